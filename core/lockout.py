"""The login lockout (django-axes) as the console wires it: who is counted, what a locked-out
caller is told, and the API token door (docs/runbooks/staff-access.md).

A wrong password on the admin login, or a wrong API token, counts once for the username typed
(the admin) and once for the client address (core.client_ip, so TRUSTED_PROXIES holds here too).
LOGIN_FAILURE_LIMIT of either within LOGIN_LOCKOUT_MINUTES locks it out; every try during a
lockout starts the period again. The answer is the same whether the user exists or not.
"""

from __future__ import annotations

from typing import Any

from axes.handlers.proxy import AxesProxyHandler
from django.conf import settings
from django.contrib.auth.signals import user_login_failed
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.template.loader import render_to_string
from rest_framework import exceptions

from core.admin_site import environment_context
from core.authentication import TokenOrBearerAuthentication
from core.client_ip import client_ip
from core.counters import counter_inc_minutely, counter_window

LOCKED_OUT_MESSAGE = "Too many failed sign-in attempts. Sign-in is paused; try again later."
# Failures per minute and door, for the LoginFailureBurst alert (alerts.conditions).
LOGIN_FAILURES_COUNTER = "login_failures"


def lockout_seconds() -> int:
    return int(settings.LOGIN_LOCKOUT_MINUTES) * 60


def lockout_client_ip(request: HttpRequest) -> str | None:
    """AXES_CLIENT_IP_CALLABLE: the console's one notion of the caller's address."""
    address = client_ip(request)
    return str(address) if address is not None else None


def lockout_parameters(request_or_attempt: Any, credentials: dict[str, Any] | None = None) -> list[str]:
    """AXES_LOCKOUT_PARAMETERS: username and address counted apart. Without a username (an API
    token names nobody) only the address: axes would otherwise pool every nameless failure."""
    if credentials is not None:
        username = credentials.get("username")
    elif isinstance(request_or_attempt, HttpRequest):
        username = request_or_attempt.POST.get("username")
    else:
        username = getattr(request_or_attempt, "username", None)
    return ["username", "ip_address"] if username else ["ip_address"]


def lockout_response(
    request: HttpRequest, original_response: HttpResponse | None = None, credentials: dict[str, Any] | None = None
) -> HttpResponse:
    """AXES_LOCKOUT_CALLABLE: 429 with Retry-After; a plain page, or JSON under /api/. It names
    neither the user nor the count, so an unknown user reads exactly what a real one does."""
    if request.path.startswith("/api/"):
        response: HttpResponse = JsonResponse({"detail": LOCKED_OUT_MESSAGE, "errors": {}}, status=429)
    else:
        html = render_to_string(
            "admin/lockout.html",
            {
                "message": LOCKED_OUT_MESSAGE,
                "minutes": settings.LOGIN_LOCKOUT_MINUTES,
                "ops_environment": environment_context(),
            },
            request,
        )
        response = HttpResponse(html, status=429)
    response["Retry-After"] = str(lockout_seconds())
    return response


def login_failure_count(*, door: str) -> None:
    """One failed sign-in, in this minute's bucket (the LoginFailureBurst rule and /metrics read
    them). A Redis outage loses the count, not the login page."""
    counter_inc_minutely(LOGIN_FAILURES_COUNTER, best_effort=True, door=door)


LOGIN_DOORS = ("admin", "api")


def login_failures_recent(*, minutes: int) -> dict[str, int]:
    """Failed sign-ins by door over the current minute and the `minutes - 1` before it."""
    counts = {door: 0 for door in LOGIN_DOORS}
    for labels, value in counter_window(LOGIN_FAILURES_COUNTER, minutes=minutes):
        counts[labels.get("door", "")] = int(value)
    return counts


def _count_failure(sender: Any, credentials: dict[str, Any] | None = None, request: Any = None, **_: Any) -> None:
    path = getattr(request, "path", "") or ""
    login_failure_count(door="api" if path.startswith("/api/") else "admin")


user_login_failed.connect(_count_failure, weak=False, dispatch_uid="login-failure-count")


class LockedOut(exceptions.Throttled):
    default_detail = LOCKED_OUT_MESSAGE
    default_code = "locked_out"


# What an API token failure is recorded as: no username, so the address alone is counted.
_API_CREDENTIALS: dict[str, Any] = {"username": None}


class LockoutTokenAuthentication(TokenOrBearerAuthentication):
    """TokenOrBearerAuthentication behind the lockout: a wrong token counts against the client
    address; a locked-out address gets 429 + Retry-After without its token being looked at."""

    def authenticate(self, request):  # type: ignore[no-untyped-def]
        django_request = request._request
        if not getattr(settings, "AXES_ENABLED", True) or not self._offers_token(request):
            return super().authenticate(request)
        if not AxesProxyHandler.is_allowed(django_request, _API_CREDENTIALS):
            self._failed(django_request)
            raise LockedOut(wait=lockout_seconds(), detail=LOCKED_OUT_MESSAGE)
        try:
            return super().authenticate(request)
        except exceptions.AuthenticationFailed:
            self._failed(django_request)
            if getattr(django_request, "axes_locked_out", False):
                raise LockedOut(wait=lockout_seconds(), detail=LOCKED_OUT_MESSAGE) from None
            raise

    @staticmethod
    def _offers_token(request: Any) -> bool:
        keyword = request.META.get("HTTP_AUTHORIZATION", "").split(" ", 1)[0].lower()
        return keyword in ("token", "bearer")

    @staticmethod
    def _failed(django_request: HttpRequest) -> None:
        user_login_failed.send(sender=LockoutTokenAuthentication, credentials=_API_CREDENTIALS, request=django_request)
