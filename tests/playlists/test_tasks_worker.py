"""The scheduled jobs through a real Celery worker: fan-out, per-item tasks, counters, skips."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from accounts.models import SpotifyAccount
from core.counters import counter_total
from jobs.models import JobRun
from jobs.services import job_enqueue
from playlists import services
from playlists.models import Playlist, PlaylistHistory
from tests.factories import PlaylistFactory, make_catalog

pytestmark = pytest.mark.slow


def test_create_then_due_reshuffle_run_through_the_worker(
    start_celery_worker: Any, spotify_emulator: Any, make_account: Any
) -> None:
    make_catalog(artists=60, tracks_per_artist=3)
    healthy = make_account("wk-healthy")
    quarantined = make_account("wk-quarantined", health=SpotifyAccount.Health.QUARANTINED)
    stuck = PlaylistFactory(account=quarantined, policy=services.policy_get_default())
    worker = start_celery_worker()

    created = services.playlists_create(account=healthy, count=2, actor="test")  # queues two syncs on commit

    def all_synced() -> bool:
        return Playlist.objects.filter(pk__in=[p.pk for p in created], sync_state="synced").count() == 2

    worker.wait_until(all_synced, timeout=60)
    on_spotify = spotify_emulator.playlists_of("wk-healthy")
    assert len(on_spotify) == 2 and all(len(p["uris"]) == 50 for p in on_spotify)
    assert counter_total("playlists_created_total") == 2

    Playlist.objects.update(next_reshuffle_at=timezone.now() - timedelta(minutes=1))
    run = job_enqueue("reshuffle_due_playlists", trigger=JobRun.Trigger.MANUAL, triggered_by="test")

    worker.wait_until(lambda: PlaylistHistory.objects.filter(action="reshuffle").count() == 2, timeout=60)
    worker.wait_until(lambda: JobRun.objects.get(task_id=run.task_id).status == "success", timeout=30)
    assert JobRun.objects.get(task_id=run.task_id).summary == {"due": 3, "skipped": 1, "queued": 2}
    assert PlaylistHistory.objects.filter(playlist=stuck, action="skip").exists()
    assert counter_total("reshuffles_total") == 2
    assert JobRun.objects.filter(task_name="playlist_reshuffle_one", status="success").count() == 2
    assert len(spotify_emulator.playlists_of("wk-healthy")) == 2  # reshuffled in place, never re-created
    assert all(p.next_reshuffle_at > timezone.now() for p in Playlist.objects.filter(account=healthy))

    # The doors' bulk queueing (one INSERT of JobRuns, published on commit) reaches the worker too.
    queued = services.playlists_queue_reshuffle(playlists=list(Playlist.objects.filter(account=healthy)), actor="api:test",
                                                trigger=JobRun.Trigger.API)
    worker.wait_until(
        lambda: JobRun.objects.filter(task_id__in=queued["task_ids"], status="success").count() == 2, timeout=60
    )
    assert JobRun.objects.filter(task_id__in=queued["task_ids"], trigger="api", attempts=1).count() == 2
    assert counter_total("reshuffles_total") == 4
