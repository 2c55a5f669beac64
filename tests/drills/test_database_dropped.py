"""Drill: the worker's PostgreSQL connection is terminated (pg_terminate_backend) mid-job.

The ingest run is retried (same task id, a short countdown), its JobRun says why while it
waits, the retry takes back the sources the interrupted run had claimed, and the next run works.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.db import connection

from ingest.models import AlbumSource
from jobs.models import JobRun
from jobs.services import job_enqueue
from tests.fixtures_drills import wait_for

pytestmark = pytest.mark.slow


def _terminate_other_backends() -> int:
    """Drop every connection to the test database but this process's own: the worker's."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
            " WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
        return int(cursor.fetchone()[0])


def test_an_ingest_run_whose_connection_is_dropped_mid_job_is_retried_and_the_next_run_works(
    spotify_emulator: Any, queue_albums: Callable[[list[str]], list[str]], start_celery_worker: Callable[..., Any]
) -> None:
    album_ids = spotify_emulator.catalog.album_ids()
    queue_albums(album_ids[:20])
    worker = start_celery_worker(concurrency=1)
    spotify_emulator.fault("albums", status=None, latency=2.0, times=1)

    run = job_enqueue("ingest_albums_from_sources", trigger=JobRun.Trigger.API, triggered_by="drill")
    wait_for(lambda: spotify_emulator.count("albums") >= 1, timeout=30, what="several-albums call in flight")
    assert _terminate_other_backends() >= 1

    retrying = worker.wait_until(lambda: JobRun.objects.filter(pk=run.pk, status="retrying").first(), timeout=20)
    assert "terminating connection" in retrying.error
    assert set(AlbumSource.objects.values_list("status", flat=True)) == {"processing"}, "the upsert rolled back"

    finished = worker.wait_until(lambda: JobRun.objects.filter(pk=run.pk, status="success").first(), timeout=30)
    assert finished.summary["taken_back"] == 20 and finished.summary["albums_done"] == 20, finished.summary
    assert set(AlbumSource.objects.values_list("status", flat=True)) == {"done"}

    queue_albums(album_ids[20:25])
    following = job_enqueue("ingest_albums_from_sources", trigger=JobRun.Trigger.API, triggered_by="drill")
    done = worker.wait_until(lambda: JobRun.objects.filter(pk=following.pk, status="success").first(), timeout=30)
    assert done.summary["albums_done"] == 5
    assert AlbumSource.objects.filter(status="done").count() == 25
