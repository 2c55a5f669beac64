"""Drill: the pool child running a task is SIGKILLed mid-flight.

acks_late + task_reject_on_worker_lost put the message back; the redelivered task must
finish the work without duplicating anything on Spotify or in the database. Emulator
latency faults hold the task inside a Spotify call while it is killed.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from core.locks import LockBusy, redis_lock
from ingest.models import Album, AlbumSource, Track
from jobs.models import JobRun
from jobs.services import job_enqueue
from playlists import services
from playlists.models import Playlist, PlaylistHistory
from tests.factories import make_catalog
from tests.fixtures_drills import pool_child, wait_for

pytestmark = pytest.mark.slow


def test_a_sync_killed_mid_create_is_redelivered_and_creates_each_playlist_once(
    spotify_emulator: Any, make_account: Callable[..., Any], start_celery_worker: Callable[..., Any]
) -> None:
    make_catalog(artists=40, tracks_per_artist=3)
    account = make_account("drill-kill-sync")
    worker = start_celery_worker(pool="prefork", concurrency=1)
    child = pool_child(worker)
    # The first create reaches Spotify and hangs there: the child dies with it in flight.
    spotify_emulator.fault("create_playlist", status=None, latency=2.0, times=1)
    # Spotify has finished that create by the time the redelivered task looks for it.
    spotify_emulator.fault("me_playlists", status=None, latency=3.0, times=1)

    created = services.playlists_create(account=account, count=2, actor="drill")  # two syncs queued on commit
    wait_for(lambda: spotify_emulator.count("create_playlist") >= 1, timeout=30, what="first create in flight")
    child.kill()

    def all_synced_and_recorded() -> bool:
        # A run is recorded after its body commits (task_postrun): wait for both, not the playlists alone.
        synced = Playlist.objects.filter(pk__in=[p.pk for p in created], sync_state="synced").count() == 2
        return synced and not JobRun.objects.filter(task_name="playlist_sync_one").exclude(status="success").exists()

    worker.wait_until(all_synced_and_recorded, timeout=45)
    on_spotify = spotify_emulator.playlists_of("drill-kill-sync")
    assert len(on_spotify) == 2, "the interrupted create was adopted, not repeated"
    assert spotify_emulator.count("create_playlist") == 2
    assert {p["id"] for p in on_spotify} == set(Playlist.objects.values_list("spotify_playlist_id", flat=True))
    assert all(len(p["uris"]) == 50 for p in on_spotify)
    [adopted] = PlaylistHistory.objects.filter(action="create", details__adopted=True)
    killed = JobRun.objects.get(task_name="playlist_sync_one", kwargs__playlist_id=str(adopted.playlist_id))
    assert worker.log().count(f"playlist_sync_one[{killed.task_id}] received") == 2, "redelivered, same task id"
    assert killed.status == "success"
    assert Playlist.objects.count() == 2


def test_an_ingest_batch_killed_mid_flight_is_redelivered_and_every_source_ends_done_once(
    spotify_emulator: Any,
    extended_app: Any,  # several-albums calls: a Development Mode app is refused them
    queue_albums: Callable[[list[str]], list[str]],
    start_celery_worker: Callable[..., Any],
) -> None:
    album_ids = queue_albums(spotify_emulator.catalog.album_ids()[:30])
    worker = start_celery_worker(pool="prefork", concurrency=1)
    child = pool_child(worker)
    spotify_emulator.fault("albums", status=None, latency=2.0, times=1)

    run = job_enqueue("ingest_albums_from_sources", trigger=JobRun.Trigger.API, triggered_by="drill", kwargs={"batch_size": 40})
    wait_for(lambda: spotify_emulator.count("albums") >= 1, timeout=30, what="several-albums call in flight")
    assert set(AlbumSource.objects.values_list("status", flat=True)) == {"processing"}
    child.kill()

    finished = worker.wait_until(lambda: JobRun.objects.filter(pk=run.pk, status="success").first(), timeout=45)
    assert finished.summary["albums_done"] == 30, finished.summary
    assert finished.summary["taken_back"] == 30, "the redelivered run took back its dead run's claims at once"
    assert worker.log().count(f"ingest_albums_from_sources[{run.task_id}] received") == 2, "redelivered, same task id"
    assert set(AlbumSource.objects.values_list("status", flat=True)) == {"done"}
    # The killed attempt counts: a source whose workers keep dying is dead-lettered in the end.
    assert set(AlbumSource.objects.values_list("attempts", flat=True)) == {1}
    assert Album.objects.count() == 30
    expected_tracks = {t for a in album_ids for t in spotify_emulator.catalog.album_track_ids(a)}
    assert set(Track.objects.values_list("spotify_id", flat=True)) == expected_tracks
    assert Track.objects.count() == len(expected_tracks)
    # 2 several-albums calls for the killed run's first chunk and the redelivered run's 2 chunks.
    assert spotify_emulator.count("albums") == 3


def test_a_lock_left_by_a_killed_run_is_taken_over_by_its_redelivery_only(db: None) -> None:
    with redis_lock("drill:takeover", ttl_seconds=60, owner="task-1"):
        pass  # released normally: nothing left behind
    dead_run = redis_lock("drill:takeover", ttl_seconds=60, owner="task-1")
    dead_run.__enter__()  # never exits: its worker was SIGKILLed
    with pytest.raises(LockBusy), redis_lock("drill:takeover", ttl_seconds=60, owner="task-2"):
        pass
    with pytest.raises(LockBusy), redis_lock("drill:takeover", ttl_seconds=60):
        pass
    with redis_lock("drill:takeover", ttl_seconds=60, owner="task-1"):
        pass
    with redis_lock("drill:takeover", ttl_seconds=60):
        pass  # the redelivered run released it
