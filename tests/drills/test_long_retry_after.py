"""Drill: Spotify answers Retry-After: 21600 (6 hours) while 1,000 playlists sync.

No task may wait that out in a worker: an ETA task past the broker's visibility timeout is
handed out again every hour. The work parks in the database and resume_parked_playlists
queues each playlist once after the wait (the clocks are moved, not waited for).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from jobs.countdown import countdown_max_seconds
from jobs.models import JobRun
from playlists import services
from playlists.models import Playlist, PlaylistHistory
from playlists.tasks import _retry_countdown, playlist_sync_one
from spotify.ratelimit import bucket_clear_block
from tests.factories import PlaylistFactory, PlaylistPolicyFactory, make_catalog

pytestmark = [pytest.mark.django_db, pytest.mark.slow]
PLAYLISTS = 1000
SIX_HOURS = 6 * 3600


def test_six_hour_retry_after_on_1000_playlists_parks_then_syncs_each_once(
    make_account: Any, spotify_emulator: Any, settings: Any, django_capture_on_commit_callbacks: Any
) -> None:
    make_catalog(artists=30, tracks_per_artist=2)
    accounts = [make_account(f"drill-{n}") for n in range(4)]
    policy = PlaylistPolicyFactory(name="Drill", size=2)
    playlists = [PlaylistFactory(account=accounts[i % 4], policy=policy, index=i // 4 + 1) for i in range(PLAYLISTS)]
    spotify_emulator.fault("create_playlist", status=429, retry_after=SIX_HOURS, times=1)

    results = [playlist_sync_one.apply(kwargs={"playlist_id": str(p.pk), "actor": "drill"}) for p in playlists]

    # Every task ended (no retry, so no ETA task held by a worker): each playlist is parked.
    assert {r.state for r in results} == {"SUCCESS"}
    assert all(r.result.get("parked") == "sync" for r in results), results[0].result
    assert _retry_countdown(_rate_limited(SIX_HOURS), 0) > countdown_max_seconds()
    assert Playlist.objects.filter(parked_work="sync").count() == PLAYLISTS
    assert services.playlists_resume_parked()["queued"]["sync"] == 0  # not due yet
    assert spotify_emulator.count("create_playlist") == 1  # the app bucket kept the others from calling

    # Six hours pass: on Spotify's side (its block) and on ours (not_before).
    bucket_clear_block("app", str(accounts[0].app_id))
    Playlist.objects.update(not_before=timezone.now() - timedelta(seconds=1))
    with django_capture_on_commit_callbacks(execute=False):
        first = services.playlists_resume_parked()
        second = services.playlists_resume_parked()
    assert (first["queued"]["sync"], second["queued"]["sync"]) == (PLAYLISTS, 0)
    runs = list(JobRun.objects.filter(job_name="playlist_sync_one", triggered_by="resume_parked_playlists"))
    assert len(runs) == PLAYLISTS and len({r.kwargs["playlist_id"] for r in runs}) == PLAYLISTS

    for run in runs:
        assert playlist_sync_one.apply(kwargs=run.kwargs).state == "SUCCESS"

    assert Playlist.objects.filter(sync_state=Playlist.SyncState.SYNCED).count() == PLAYLISTS
    assert spotify_emulator.count("create_playlist") == 1 + PLAYLISTS
    assert PlaylistHistory.objects.filter(action=PlaylistHistory.Action.CREATE).count() == PLAYLISTS
    assert sum(len(spotify_emulator.playlists_of(a.spotify_user_id)) for a in accounts) == PLAYLISTS


def _rate_limited(seconds: int) -> Exception:
    from spotify import SpotifyRateLimited

    return SpotifyRateLimited("429", retry_after=seconds)
