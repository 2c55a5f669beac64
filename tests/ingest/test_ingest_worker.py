"""The ingest jobs through a real Celery worker: the chain to audio features, and a 429 retry.

(spotify_emulator comes before celery_worker_process: the worker is pointed at it when it starts.)
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from devstack.emulator import SpotifyEmulator
from ingest.models import AlbumSource, Track
from jobs.models import JobRun
from jobs.services import job_enqueue

pytestmark = pytest.mark.slow


def test_ingest_job_chains_audio_features_in_a_real_worker(
    spotify_emulator: SpotifyEmulator, celery_worker_process, queue_albums: Callable[[list[str]], list[str]], extended_app
) -> None:  # type: ignore[no-untyped-def]
    queue_albums(spotify_emulator.catalog.album_ids()[:10])
    run = job_enqueue("ingest_albums_from_sources", trigger=JobRun.Trigger.API, triggered_by="test")
    done = celery_worker_process.wait_until(lambda: JobRun.objects.filter(pk=run.pk, status="success").first(), timeout=60)
    assert done.summary["albums_done"] == 10
    features = celery_worker_process.wait_until(
        lambda: JobRun.objects.filter(job_name="fetch_audio_features", status="success").first(), timeout=60
    )
    assert features.trigger == "chain"
    assert features.summary["stored"] > 0
    assert Track.objects.filter(features_fetched_at__isnull=False).count() == features.summary["stored"]


def test_a_429_past_the_ceiling_parks_sources_and_the_task_retries_with_the_countdown(
    spotify_emulator: SpotifyEmulator, celery_worker_process, queue_albums: Callable[[list[str]], list[str]]
) -> None:  # type: ignore[no-untyped-def]
    queue_albums(spotify_emulator.catalog.album_ids()[:5])
    spotify_emulator.fault("albums", status=429, retry_after=120, times=1)
    run = job_enqueue("ingest_albums_from_sources", trigger=JobRun.Trigger.API, triggered_by="test")
    retrying = celery_worker_process.wait_until(lambda: JobRun.objects.filter(pk=run.pk, status="retrying").first(), timeout=60)
    assert "120" in retrying.error
    source = AlbumSource.objects.first()
    assert (source.status, source.attempts) == ("queued", 1)
    assert source.not_before is not None


def test_two_worker_processes_ingesting_at_once_take_each_source_once(
    spotify_emulator: SpotifyEmulator, start_celery_worker, queue_albums: Callable[[list[str]], list[str]], extended_app
) -> None:  # type: ignore[no-untyped-def]
    album_ids = queue_albums(spotify_emulator.catalog.album_ids()[:60])
    # Slow several-albums answers keep both workers inside their claims at the same time.
    spotify_emulator.fault("albums", status=None, latency=0.3, times=3)
    workers = [start_celery_worker(concurrency=1), start_celery_worker(concurrency=1)]
    runs = [
        job_enqueue("ingest_albums_from_sources", trigger=JobRun.Trigger.API, triggered_by="test", kwargs={"batch_size": 20})
        for _ in range(4)
    ]

    def all_finished() -> list[JobRun] | None:
        done = list(JobRun.objects.filter(pk__in=[r.pk for r in runs], status="success"))
        return done if len(done) == len(runs) else None

    finished = workers[0].wait_until(all_finished, timeout=90)
    assert sum(run.summary["claimed"] for run in finished) == 60
    assert len({run.worker for run in finished if run.summary["claimed"]}) == 2, "both processes took work"
    assert spotify_emulator.count("albums") == 3, "no album was fetched twice"
    assert set(AlbumSource.objects.values_list("status", flat=True)) == {"done"}
    assert Track.objects.count() == sum(len(spotify_emulator.catalog.album_track_ids(a)) for a in album_ids)
