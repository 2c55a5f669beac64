"""verify_playlists asked for its dry run through jobs/update (`run_now` + `dry_run`): nothing
queued or written, Spotify not called; an unchanged fleet then costs exactly the calls it counts
at least, a drifted playlist's repair stays within the calls it counts at most."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import User
from rest_framework.test import APIClient

from audit.models import AuditEvent
from jobs.models import JobRun
from jobs.schedule import schedule_sync
from playlists import services
from playlists.models import Playlist, PlaylistHistory
from tests.factories import PlaylistFactory, PlaylistPolicyFactory, make_catalog
from tests.fixtures_clients import api_key_for

pytestmark = pytest.mark.django_db

READS_AND_WRITES = ("library_contains", "playlist_get", "playlist_items_get", "playlist_details", "playlist_items_put", "playlist_items_post")


def _calls(emulator: Any) -> int:
    counts = emulator.counts()
    return sum(counts.get(name, 0) for name in READS_AND_WRITES)


def _rows() -> tuple[int, ...]:
    return tuple(model.objects.count() for model in (JobRun, AuditEvent, PlaylistHistory))


@pytest.fixture
def api(operator: User) -> APIClient:
    schedule_sync()
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {api_key_for(operator)}")
    return client


@pytest.fixture
def fleet(make_account: Any) -> list[Playlist]:
    make_catalog(artists=60, tracks_per_artist=4)
    policy = PlaylistPolicyFactory(name="Steady", name_template="{{ policy.name }} #{{ index }}")
    playlists = [PlaylistFactory(account=account, policy=policy) for account in (make_account("v-a"), make_account("v-b")) for _ in range(3)]
    for playlist in playlists:
        services.playlist_sync(playlist=playlist, actor="test")
    return playlists


def _preview(api: APIClient) -> dict[str, Any]:
    response = api.post("/api/v1/jobs/update", {"name": "verify_playlists", "run_now": True, "dry_run": True}, format="json")
    assert response.status_code == 200, response.content
    return response.json()


def test_an_unchanged_fleet_costs_the_calls_the_preview_counts_at_least(
    api: APIClient, spotify_emulator: Any, fleet: list[Playlist]
) -> None:
    before = _rows()
    spotify_emulator.reset_counts()

    preview = _preview(api)

    assert (_rows(), spotify_emulator.counts()) == (before, {})
    # Per account one library check, then one GET per playlist.
    assert (preview["count"], preview["calls_min"]) == (6, 2 + 6)
    assert sorted(preview["sample"]) == sorted(str(p.pk) for p in fleet)
    services.playlists_verify(actor="test")
    assert _calls(spotify_emulator) == preview["calls_min"]


def test_a_repair_stays_within_the_calls_the_preview_counts_at_most(
    api: APIClient, spotify_emulator: Any, fleet: list[Playlist]
) -> None:
    # Our side renamed: Spotify's name differs, the run writes the details back.
    Playlist.objects.filter(pk=fleet[0].pk).update(name="Renamed by hand")
    preview = _preview(api)
    spotify_emulator.reset_counts()
    summary = services.playlists_verify(actor="test")
    assert summary["repaired"] == 1
    assert preview["calls_min"] < _calls(spotify_emulator) <= preview["calls_max"]


def test_a_dry_run_is_refused_for_a_job_without_one_and_beside_other_changes(api: APIClient) -> None:
    runs = JobRun.objects.count()
    without = api.post("/api/v1/jobs/update", {"name": "metrics_snapshot", "run_now": True, "dry_run": True}, format="json")
    assert without.status_code == 400 and without.json()["errors"] == {"dry_run": ["metrics_snapshot has no dry run."]}
    mixed = api.post("/api/v1/jobs/update", {"name": "verify_playlists", "enabled": False, "dry_run": True}, format="json")
    assert mixed.status_code == 400 and "dry_run" in mixed.json()["errors"]
    assert JobRun.objects.count() == runs
