"""A bulk reshuffle asked `dry_run: true` (playlists/services/previews.py): nothing queued,
nothing written, Spotify not called; the calls it counts are the calls the real run then makes
against the emulator, and its time is the limiter's burst and rate."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import User
from rest_framework.test import APIClient

from jobs.models import JobRun
from playlists import services
from playlists.models import Playlist
from playlists.tasks import playlist_reshuffle_one
from spotify.ratelimit_settings import rate_limit_set
from tests.factories import PlaylistFactory, PlaylistPolicyFactory, make_catalog
from tests.fixtures_clients import api_key_for

pytestmark = pytest.mark.django_db

WRITES = ("create_playlist", "playlist_details", "playlist_items_put", "playlist_items_post", "playlist_unfollow")


def _writes(emulator: Any) -> int:
    counts = emulator.counts()
    return sum(counts.get(name, 0) for name in WRITES)


@pytest.fixture
def api(operator: User) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {api_key_for(operator)}")
    return client


@pytest.fixture
def fleet(make_account: Any) -> list[Playlist]:
    """Six synced playlists on two accounts: four whose details never change, two of 150 tracks
    whose description names the top artists of each new selection."""
    make_catalog(artists=120, tracks_per_artist=4)
    first, second = make_account("preview-a"), make_account("preview-b")
    steady = PlaylistPolicyFactory(name="Steady", name_template="{{ policy.name }} #{{ index }}", description_template="Fresh picks")
    named = PlaylistPolicyFactory(name="Named", size=150, artist_cap=3, description_template="Top: {{ top_artists|join:', ' }}")
    playlists = [PlaylistFactory(account=account, policy=steady) for account in (first, first, second, second)]
    playlists += [PlaylistFactory(account=first, policy=named), PlaylistFactory(account=second, policy=named)]
    for playlist in playlists:
        services.playlist_sync(playlist=playlist, actor="test")
    return playlists


def _preview(api: APIClient, **body: Any) -> dict[str, Any]:
    response = api.post("/api/v1/playlists/reshuffle-bulk", {"dry_run": True, **body}, format="json")
    assert response.status_code == 200, response.content
    return response.json()


def test_the_preview_counts_the_calls_the_real_run_then_makes(api: APIClient, spotify_emulator: Any, fleet: list[Playlist]) -> None:
    steady = [str(p.pk) for p in fleet[:4]]
    spotify_emulator.reset_counts()
    runs = JobRun.objects.count()
    preview = _preview(api, mode="playlists", ids=steady)
    assert (JobRun.objects.count(), _writes(spotify_emulator), sum(spotify_emulator.counts().values())) == (runs, 0, 0)
    # 50 tracks each: one replace per playlist, no rename (details do not read the selection).
    assert (preview["count"], preview["calls_min"], preview["calls_max"]) == (4, 4, 4)
    assert sorted(preview["sample"]) == sorted(steady) and preview["skipped"] == {}

    for playlist_id in steady:
        playlist_reshuffle_one.apply(args=[playlist_id], kwargs={"actor": "test"}).get()
    assert _writes(spotify_emulator) == preview["calls_max"]


def test_a_selection_in_the_details_is_a_rename_the_run_may_make(api: APIClient, spotify_emulator: Any, fleet: list[Playlist]) -> None:
    named = [str(p.pk) for p in fleet[4:]]
    preview = _preview(api, mode="playlists", ids=named)
    # 150 tracks: a replace and an add each; the description may change with the new top artists.
    assert (preview["calls_min"], preview["calls_max"]) == (4, 6)
    spotify_emulator.reset_counts()
    for playlist_id in named:
        playlist_reshuffle_one.apply(args=[playlist_id], kwargs={"actor": "test"}).get()
    assert preview["calls_min"] <= _writes(spotify_emulator) <= preview["calls_max"]


def test_skips_are_the_runs_own_and_the_time_is_the_limiters(api: APIClient, spotify_emulator: Any, fleet: list[Playlist]) -> None:
    Playlist.objects.filter(pk=fleet[0].pk).update(frozen=True)
    account = fleet[2].account
    type(account).objects.filter(pk=account.pk).update(health="quarantined", health_reason="test")
    preview = _preview(api, mode="all")
    assert preview["skipped"] == {"frozen": 1, "account quarantined: test": 3}
    assert preview["count"] == 2
    [app] = preview["apps"]
    assert app["app"] == str(fleet[0].account.app_id) and app["calls_max"] == 1 + 3

    rate_limit_set(kind="app", ident=app["app"], rate_per_second=0.5, burst=2, actor="test")
    slowed = _preview(api, mode="all")
    assert slowed["eta_seconds"] == (4 - 2) / 0.5
    assert not JobRun.objects.filter(job_name="playlist_reshuffle_one").exists()
