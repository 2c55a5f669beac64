"""A staff user's display time zone: stored per user, kept in the session, activated in the admin."""

from __future__ import annotations

import zoneinfo
from functools import cache

from django.contrib.auth.base_user import AbstractBaseUser
from django.contrib.auth.models import AnonymousUser
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest

from core.models import UserPreference

SESSION_KEY = "display_time_zone"
DEFAULT_TIME_ZONE = "UTC"


@cache
def time_zones() -> list[str]:
    """Every IANA zone name, UTC first."""
    return [DEFAULT_TIME_ZONE, *sorted(zone for zone in zoneinfo.available_timezones() if zone != DEFAULT_TIME_ZONE)]


def time_zone_of(user: AbstractBaseUser | AnonymousUser) -> str:
    if not user.is_authenticated:
        return DEFAULT_TIME_ZONE
    zone = UserPreference.objects.filter(user_id=user.pk).values_list("time_zone", flat=True).first()
    return zone if zone in time_zones() else DEFAULT_TIME_ZONE


def display_time_zone_set(*, request: HttpRequest, time_zone: str) -> UserPreference:
    """Save the user's display time zone and use it from this session's next page on.

    A user setting, not an operator action: no audit row.
    """
    if time_zone not in time_zones():
        raise ValueError(f"unknown time zone {time_zone!r}")
    user = request.user
    if not user.is_authenticated:
        raise PermissionDenied
    preference, _ = UserPreference.objects.update_or_create(user=user, defaults={"time_zone": time_zone})
    request.session[SESSION_KEY] = time_zone
    return preference


def display_time_zone_load(*, request: HttpRequest, user: AbstractBaseUser) -> None:
    """At login: the user's zone into the session, so admin pages need no query for it."""
    request.session[SESSION_KEY] = time_zone_of(user)


def display_time_zone(request: HttpRequest) -> str:
    zone = request.session.get(SESSION_KEY)
    if zone is None:
        # A session from before the preference existed: read it once.
        zone = request.session[SESSION_KEY] = time_zone_of(request.user)
    return zone if zone in time_zones() else DEFAULT_TIME_ZONE
