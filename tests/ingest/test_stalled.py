"""Stalled ingest (docs/runbooks/stalled-ingest.md): health issue, dashboard alert, late job."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import time_machine
from django.contrib.auth.models import User
from django.utils import timezone

from ingest.models import AlbumSource
from ingest.selectors import ingest_stalled
from ingest.services import album_sources_submit
from jobs.schedule import schedule_sync
from jobs.selectors import jobs_late, jobs_overview
from tests.factories import record_job_run, spotify_id
from tests.fixtures_clients import client_for

pytestmark = pytest.mark.django_db


def _start() -> datetime:
    return datetime(2026, 3, 2, 12, 0, tzinfo=UTC)


def _queue(n: int, *, offset: int = 0) -> list[AlbumSource]:
    results = album_sources_submit(raw_inputs=[spotify_id("st", offset + i) for i in range(n)], submitted_by="test")
    return list(AlbumSource.objects.filter(pk__in=[r.source_id for r in results]))


def _finish(source: AlbumSource) -> None:
    AlbumSource.objects.filter(pk=source.pk).update(status=AlbumSource.Status.DONE, finished_at=timezone.now())


def _ingest_run_started(at: datetime) -> None:
    """An ingest run (the nightly job) that started at `at` and is still going."""
    record_job_run("ingest_albums_from_sources", 60, finished_at=at + timedelta(seconds=60), status="running")


def _stalled_issue(client: Any) -> dict[str, Any] | None:
    report = client.get("/api/health").json()
    return next((i for i in report["ingestion"]["issues"] if i["reason"] == "stalled"), None)


def test_queued_sources_with_nothing_finished_in_the_window_are_stalled(superuser: User, settings: Any) -> None:
    settings.SESSION_IDLE_MINUTES = 24 * 60  # the clock jumps hours between requests of one session
    client = client_for(superuser)
    start = _start()
    with time_machine.travel(start, tick=False):
        done, *_ = _queue(4)
        _finish(done)
    _ingest_run_started(start + timedelta(minutes=1))
    with time_machine.travel(start + timedelta(hours=5), tick=False):
        assert ingest_stalled() is None, "within INGEST_STALLED_MINUTES (360)"
        assert _stalled_issue(client) is None
    with time_machine.travel(start + timedelta(hours=7), tick=False):
        schedule_sync()
        issue = _stalled_issue(client)
        assert issue == {
            "source": "ingest",
            "operation": "albums",
            "reason": "stalled",
            "queued": 3,
            "last_finished_at": start.isoformat(),
            "window_minutes": 360,
            "last_error": "",
        }
        report = client.get("/api/health").json()
        assert report["status"] == "degraded" and "ingestion" in report["problems"]
        late = {job["name"]: job["reason"] for job in report["jobs"]["late"]}
        ingest_job = next(name for name, reason in late.items() if reason.startswith("stalled:"))
        assert "3 album sources queued" in late[ingest_job]
        row = next(r for r in jobs_overview() if r["name"] == ingest_job)
        assert row["task"].endswith("ingest_albums_from_sources") and row["late"]
        page = client.get("/admin/metrics/metricsnapshot/dashboard/").content.decode()
        assert 'id="ingest-stalled"' in page and "3 album sources queued" in page

        settings.INGEST_STALLED_MINUTES = 600
        assert ingest_stalled() is None, "the window is configurable"
        settings.INGEST_STALLED_MINUTES = 360
        assert [job for job in jobs_late() if job["reason"].startswith("stalled:")]

        # One source finishing ends the alert.
        _finish(AlbumSource.objects.filter(status=AlbumSource.Status.QUEUED).first())
        assert ingest_stalled() is None
        assert not [job for job in jobs_late() if job["reason"].startswith("stalled:")]
        assert 'id="ingest-stalled"' not in client.get("/admin/metrics/metricsnapshot/dashboard/").content.decode()


def test_work_queued_after_the_last_run_waits_for_the_next_run_and_is_not_stalled() -> None:
    """Ingest runs nightly: albums submitted in the day wait for the next run, never a page."""
    start = _start()
    _ingest_run_started(start - timedelta(hours=9))
    with time_machine.travel(start, tick=False):
        _finish(_queue(1)[0])
        _queue(2, offset=10)
    with time_machine.travel(start + timedelta(hours=20), tick=False):
        assert ingest_stalled() is None, "no run has started since they were queued"
    _ingest_run_started(start + timedelta(hours=21))
    with time_machine.travel(start + timedelta(hours=26, minutes=59), tick=False):
        assert ingest_stalled() is None, "the run has not had the whole window yet"
    with time_machine.travel(start + timedelta(hours=27, minutes=1), tick=False):
        stalled = ingest_stalled()
        assert stalled is not None and stalled["queued"] == 2


def test_an_empty_or_moving_queue_is_not_stalled() -> None:
    assert ingest_stalled() is None
    start = _start()
    with time_machine.travel(start, tick=False):
        sources = _queue(2)
    _ingest_run_started(start + timedelta(minutes=5))
    with time_machine.travel(start + timedelta(hours=8), tick=False):
        assert ingest_stalled() == {
            "source": "ingest",
            "reason": "stalled",
            "queued": 2,
            "last_finished_at": None,
            "window_minutes": 360,
        }
        _finish(sources[0])
        assert ingest_stalled() is None
