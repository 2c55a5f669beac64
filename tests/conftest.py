from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from typing import Any

import pytest
from django.contrib.auth.models import Group, User
from django.utils import timezone

from accounts.models import SpotifyAccount, SpotifyApp
from accounts.services import account_onboard, app_get_or_create_default
from core.redis import get_redis, key

pytest_plugins = [
    "tests.fixtures_spotify",
    "tests.fixtures_celery",
    "tests.fixtures_alerts",
    "tests.fixtures_clients",
    "tests.fixtures_catalog",
    "tests.fixtures_app_modes",
    "tests.fixtures_oidc",
]


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings) -> None:  # type: ignore[no-untyped-def]
    """Role fixtures hash passwords; production's PBKDF2 rounds only slow the suite down."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def _clean_redis() -> Iterator[None]:
    """Each test starts with no buckets, breakers, locks or counters of earlier tests."""
    yield
    client = get_redis()
    keys = list(client.scan_iter(match=key("*"), count=1000))
    if keys:
        client.delete(*keys)


@pytest.fixture
def superuser(db: None) -> User:
    return User.objects.create_superuser("root", "root@example.com", "pw-root-123!")


def _staff(username: str, group: str | None) -> User:
    user = User.objects.create_user(username, f"{username}@example.com", f"pw-{username}-123!", is_staff=True)
    if group:
        user.groups.add(Group.objects.get_or_create(name=group)[0])
    return user


@pytest.fixture
def operator(db: None) -> User:
    return _staff("olive", "operators")


@pytest.fixture
def viewer(db: None) -> User:
    return _staff("victor", "viewers")


@pytest.fixture
def spotify_app(db: None) -> SpotifyApp:
    """The app SPOTIFY_CLIENT_ID names, with room for the accounts a test makes."""
    app = app_get_or_create_default()
    app.user_cap = 50
    app.save(update_fields=["user_cap"])
    return app


@pytest.fixture
def make_account(spotify_emulator: Any, spotify_app: SpotifyApp) -> Callable[..., SpotifyAccount]:
    """An account whose user exists on the emulator, with a real refresh token."""

    def make(
        user_id: str,
        *,
        app: SpotifyApp | None = None,
        authorized_at: datetime | None = None,
        expires_in: timedelta | None = None,
        health: str = SpotifyAccount.Health.OK,
        capacity: int | None = None,
    ) -> SpotifyAccount:
        target = app or spotify_app
        user = spotify_emulator.create_user(
            user_id, display_name=user_id.title(), authorized_at=authorized_at, client_id=target.client_id
        )
        account = account_onboard(
            app=target, spotify_user_id=user_id, display_name=user_id.title(),
            refresh_token=user["refresh_token"], authorized_at=authorized_at,
        )
        updates: dict[str, Any] = {}
        if expires_in is not None:
            # A token already in hand: the account starts with the one the user just got.
            account.access_token = user["access_token"]
            account.token_expires_at = timezone.now() + expires_in
            account.save(update_fields=["access_token", "token_expires_at"])
        if health != SpotifyAccount.Health.OK:
            updates["health"] = health
        if capacity is not None:
            updates["playlist_capacity"] = capacity
        if updates:
            SpotifyAccount.objects.filter(pk=account.pk).update(**updates)
            account.refresh_from_db()
        return account

    return make
