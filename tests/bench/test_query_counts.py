"""Admin changelists and API lists make as many queries at 200 rows as at 10.

The fleet comes from bench/fleet.py (the same SQL as `make bench`), at small sizes, inside the
test's transaction. Counts, never times: the timings live in BENCHMARKS.md.
"""

from __future__ import annotations

import json

import pytest
from django.contrib.auth.models import User
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from accounts.models import SpotifyAccount
from bench.admin_api import ADMIN_PAGES, API_PAGES
from bench.fleet import FleetSizes, fleet_populate
from ingest.models import DeadLetter, Track
from jobs.models import JobRun
from playlists.models import Playlist

pytestmark = pytest.mark.django_db


def _page(client: Client, path: str) -> tuple[int, int]:
    """(queries, rows shown) of one GET."""
    with CaptureQueriesContext(connection) as queries:
        response = client.get(path)
    assert response.status_code == 200, (path, response.status_code)
    if path.startswith("/admin/"):
        rows = response.content.count(b'class="action-select"')
    else:
        body = json.loads(response.content)
        rows = len(body.get("results", body.get("messages", [])))
    return len(queries.captured_queries), rows


def _api_path(name: str, path: str) -> str:
    return f"{path}?limit=200" if name == "dlq_messages" else f"{path}?page_size=200"


def _measure_all(client: Client) -> dict[str, tuple[int, int]]:
    pages = {f"admin {name}": _page(client, path) for name, path in ADMIN_PAGES.items()}
    pages.update({f"api {name}": _page(client, _api_path(name, path)) for name, path in API_PAGES.items()})
    return pages


def test_fleet_has_the_requested_rows_and_tokens_decrypt() -> None:
    fleet_populate(sizes=FleetSizes.uniform(10))
    assert (SpotifyAccount.objects.count(), Playlist.objects.count(), Track.objects.count()) == (10, 10, 10)
    assert (JobRun.objects.count(), DeadLetter.objects.count()) == (10, 10)
    account = SpotifyAccount.objects.order_by("pk").first()
    assert account is not None
    # EncryptedTextField decrypts on load: a value that is not Fernet ciphertext under the
    # configured keys would raise here.
    assert account.access_token.startswith("bench-access-") and account.refresh_token.startswith("bench-refresh-")
    assert Playlist.objects.filter(current_snapshot__isnull=False).count() == 10


def test_changelists_and_api_lists_do_not_query_per_row(client: Client, superuser: User) -> None:
    client.force_login(superuser)
    fleet_populate(sizes=FleetSizes.uniform(10))
    small = _measure_all(client)
    fleet_populate(sizes=FleetSizes.uniform(200))
    large = _measure_all(client)

    for page, (queries, rows) in small.items():
        large_queries, large_rows = large[page]
        assert large_rows > rows, f"{page}: the larger fleet should show more rows ({rows} -> {large_rows})"
        assert large_queries == queries, f"{page}: {queries} queries at {rows} rows, {large_queries} at {large_rows} rows"


def test_api_lists_through_a_token_cost_only_their_page_once_the_token_is_known(settings, superuser: User) -> None:  # type: ignore[no-untyped-def]
    """The token cache answers the token and group lookups, and `last_used_at` is written once
    a minute at most: a token request makes the queries of its page plus the lockout's check of
    the address (core.lockout), request after request."""
    from rest_framework.test import APIClient

    from core.authentication import token_cache
    from tests.fixtures_clients import api_key_for

    settings.API_TOKEN_CACHE_SECONDS = 60
    token_cache.forget_all()
    fleet_populate(sizes=FleetSizes.uniform(10))
    by_token = Client(HTTP_AUTHORIZATION=f"Token {api_key_for(superuser)}")
    forced = APIClient()
    forced.force_authenticate(superuser)  # no authentication at all: the page's own queries
    for name, path in API_PAGES.items():
        path = _api_path(name, path)
        _page(by_token, path)  # the token's first use: lookups and last use
        page_only, _ = _page(forced, path)
        assert [_page(by_token, path)[0] for _ in range(3)] == [page_only + 1] * 3, name


def test_the_incident_timeline_case_runs_on_a_small_fleet(monkeypatch: pytest.MonkeyPatch) -> None:
    from bench import job_durations, timeline

    fleet_populate(sizes=FleetSizes.uniform(10))
    monkeypatch.setattr(job_durations, "REQUESTS", 1)
    figures = timeline.incident_timeline_case()
    assert figures["widest_queries"] == figures["hour_queries"] <= 7
    assert figures["widest_events"] >= figures["hour_events"]
    assert figures["widest_truncated"] == [] and figures["audit_plan"] and figures["job_runs_plan"]
