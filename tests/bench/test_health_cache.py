"""/health reuses its report for HEALTH_CACHE_SECONDS: probes at any rate cost one round of checks.

Found by the load bench: every probe waited for the Celery ping's whole timeout.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from django.contrib.auth.models import User
from django.test import Client

from core.redis import get_redis
from metrics import health


def _forget_published() -> None:
    get_redis().delete(health._published_key())


@pytest.fixture
def fresh_health_cache() -> Iterator[None]:
    health._cached_report = None
    _forget_published()
    yield
    health._cached_report = None
    _forget_published()


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


def _age_report(seconds: float) -> None:
    assert health._cached_report is not None
    health._cached_report = (health._cached_report[0] - seconds, health._cached_report[1])


def _stale_report(settings, superuser: User) -> tuple[Client, str]:  # type: ignore[no-untyped-def]
    """A staff client, and the report its process holds, now past its 60 s interval."""
    settings.HEALTH_CACHE_SECONDS = 60
    client = Client()
    client.force_login(superuser)
    first = _checked_at(client)
    _age_report(61)
    return client, first


def test_a_stale_report_is_answered_while_one_thread_computes_the_next(
    settings, superuser: User, fresh_health_cache: None
) -> None:  # type: ignore[no-untyped-def]
    client, first = _stale_report(settings, superuser)
    _forget_published()  # no other process of this host has a younger one
    # Past the interval: this probe still gets the last report, and a refresh starts behind it.
    assert _checked_at(client) == first
    _join_refresh()
    assert _checked_at(client) != first


def _join_refresh() -> None:
    refresh = health._refresh_thread
    assert refresh is not None
    refresh.join(timeout=30)
    assert not refresh.is_alive()


def test_a_stale_report_is_replaced_by_a_younger_one_another_process_published(
    settings, superuser: User, fresh_health_cache: None
) -> None:  # type: ignore[no-untyped-def]
    client, first = _stale_report(settings, superuser)
    # Another web process of this host has just run the checks and published its report.
    published = health._compute_and_publish(60)[1][0]["checked_at"]
    assert published != first
    assert _checked_at(client) == first
    _join_refresh()
    # The refresh took that report rather than running every check again.
    assert _checked_at(client) == published


def test_a_report_far_past_its_interval_is_not_served(settings, superuser: User, fresh_health_cache: None) -> None:  # type: ignore[no-untyped-def]
    settings.HEALTH_CACHE_SECONDS = 60
    client = Client()
    client.force_login(superuser)
    first = _checked_at(client)
    _age_report(60 * health.STALE_FACTOR)
    _forget_published()  # nor does another process of this host have a younger one
    assert _checked_at(client) != first


def test_a_process_without_a_report_takes_the_one_this_host_published(
    settings, superuser: User, fresh_health_cache: None
) -> None:  # type: ignore[no-untyped-def]
    settings.HEALTH_CACHE_SECONDS = 60
    client = Client()
    client.force_login(superuser)
    first = _checked_at(client)
    health._cached_report = None  # a second web process, started after the first one's report
    assert _checked_at(client) == first
    assert health._refresh_thread is None or not health._refresh_thread.is_alive()
