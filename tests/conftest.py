from __future__ import annotations

from collections.abc import Iterator

import pytest
from django.contrib.auth.models import Group, User

from opsconsole.redis import get_redis, key

pytest_plugins = ["tests.fixtures_spotify", "tests.fixtures_celery"]


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
