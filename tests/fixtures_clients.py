"""HTTP clients for a user (session or API token) and the users and settings the API and
ops-page tests need. Registered from tests/conftest.py (`pytest_plugins`).

`short_probe_timeouts` was the ops tests' autouse fixture: the modules that relied on it
name it in their `pytestmark`.
"""

from __future__ import annotations

from datetime import datetime

import pytest
from django.contrib.auth.models import User
from django.test import Client

from core.models import ApiToken


def client_for(user: User | None) -> Client:
    client = Client()
    if user is not None:
        client.force_login(user)
    return client


def api_key_for(user: User, *, scope: str = "operate", expires_at: datetime | None = None, name: str = "test") -> str:
    """A new API token of `user`, its key returned. Written directly, not through the audited
    service, so tests that count audit rows see only their own. `operate` by default: the
    user's groups decide, as for the API before scopes."""
    key = ApiToken.new_key()
    ApiToken.objects.create(
        user=user,
        name=name,
        scope=scope,
        prefix=key[: ApiToken.VISIBLE_CHARS],
        digest=ApiToken.digest_of(key),
        expires_at=expires_at,
    )
    return key


def token_client(user: User, keyword: str = "Token", *, scope: str = "operate") -> Client:
    return Client(HTTP_AUTHORIZATION=f"{keyword} {api_key_for(user, scope=scope)}")


@pytest.fixture
def staff_plain(db: None) -> User:
    """Staff without any group: the admin lets them in, the API's group check does not."""
    return User.objects.create_user("stella", "stella@example.com", "pw-stella-123!", is_staff=True)


@pytest.fixture
def nonstaff(db: None) -> User:
    return User.objects.create_user("nora", "nora@example.com", "pw-nora-123!")


@pytest.fixture
def short_probe_timeouts(settings) -> None:  # type: ignore[no-untyped-def]
    """Most ops tests have no worker: do not wait a full second for inspects nobody answers."""
    settings.QUEUES_INSPECT_TIMEOUT_SECONDS = 0.3
    settings.HEALTH_ALLOWLIST = []
    settings.TRUSTED_PROXIES = []
    settings.OPS_ADMIN_EMAILS = []
    # The role fixtures create four users per test; PBKDF2 would make that the slowest part.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def settings_fixture_short_probes(settings) -> None:  # type: ignore[no-untyped-def]
    """Even shorter inspects for fuzzing, which calls the queue report many times."""
    settings.QUEUES_INSPECT_TIMEOUT_SECONDS = 0.1
