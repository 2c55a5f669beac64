"""/health reuses its report for HEALTH_CACHE_SECONDS: probes at any rate cost one round of checks.

Found by the load bench: every probe waited for the Celery ping's whole timeout.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from django.contrib.auth.models import User
from django.test import Client

from metrics import health


@pytest.fixture
def fresh_health_cache() -> Iterator[None]:
    health._cached_report = None
    yield
    health._cached_report = None


def _checked_at(client: Client) -> str:
    response = client.get("/health")
    assert response.status_code == 200
    return response.json()["checked_at"]


def test_probes_within_the_window_share_one_report(settings, superuser: User, fresh_health_cache: None) -> None:  # type: ignore[no-untyped-def]
    settings.HEALTH_CACHE_SECONDS = 60
    client = Client()
    client.force_login(superuser)
    first = _checked_at(client)
    assert _checked_at(client) == first
    # Anonymous probes are answered from the same report, and see only its status.
    assert Client().get("/health").json() in ({"status": "ok"}, {"status": "degraded"})
    assert _checked_at(client) == first


def test_a_zero_window_checks_on_every_probe(settings, superuser: User, fresh_health_cache: None) -> None:  # type: ignore[no-untyped-def]
    settings.HEALTH_CACHE_SECONDS = 0
    client = Client()
    client.force_login(superuser)
    assert _checked_at(client) != _checked_at(client)
