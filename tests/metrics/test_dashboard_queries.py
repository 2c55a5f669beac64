"""What the dashboard reads grows with neither the catalog nor the failures: the quality tiers come
from the latest hourly snapshot (counting 10M tracks took 5.5 s a refresh, BENCHMARKS.md), the
failing jobs' last errors from one query."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from django.contrib.auth.models import User
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from ingest.quality import tracks_quality_update
from jobs.models import JobRun
from metrics.dashboard import _failing_jobs, dashboard_context
from metrics.services_metrics import metric_snapshot_take
from tests.factories import TrackFactory
from tests.fixtures_clients import client_for

pytestmark = pytest.mark.django_db

DASHBOARD = "/admin/metrics/metricsnapshot/dashboard/"


def _track_queries(queries: CaptureQueriesContext) -> list[str]:
    return [q["sql"] for q in queries.captured_queries if 'FROM "ingest_track"' in q["sql"]]


def test_quality_tiers_come_from_the_latest_snapshot_and_say_how_old_they_are(superuser: User) -> None:
    tracks = TrackFactory.create_batch(3, isrc="", duration_ms=1000)
    tracks_quality_update(track_ids=[t.pk for t in tracks])
    page = client_for(superuser).get(DASHBOARD).content.decode()
    assert "counted now (no hourly snapshot has counted them yet)" in page

    metric_snapshot_take()
    TrackFactory.create_batch(2)  # after the snapshot: not in the figure until the next one
    with CaptureQueriesContext(connection) as queries:
        context = dashboard_context(range_key="24h")
    assert _track_queries(queries) == []
    assert context["ingest"]["quality"] == {"good": 0, "fair": 0, "poor": 3, "unscored": 0}
    page = client_for(superuser).get(DASHBOARD).content.decode()
    assert "(hourly snapshot)" in page and 'class="ops-reltime"' in page.split('id="tracks-quality"')[1].split("</caption>")[0]


def _fail(job: str, n: int, now: datetime, error: str) -> None:
    for i in range(n):
        JobRun.objects.create(
            job_name=job,
            task_name=job,
            task_id=f"{job}-{i}",
            status=JobRun.Status.FAILED,
            finished_at=now - timedelta(minutes=10 + i),
            error=f"Traceback\n{error} {i}",
        )


def _failing_queries() -> tuple[list[dict], int]:
    with CaptureQueriesContext(connection) as queries:
        rows = _failing_jobs(timezone.now())
    return rows, len([q for q in queries.captured_queries if 'FROM "metrics_jobrun"' in q["sql"]])


def test_failing_jobs_and_their_last_errors_cost_the_same_queries_for_one_job_or_five() -> None:
    now = timezone.now()
    _fail("refresh_tokens", 3, now, "SpotifyServerError")
    JobRun.objects.create(
        job_name="refresh_tokens", task_name="x", task_id="old", status="failed", finished_at=now - timedelta(days=3), error="old"
    )
    rows, one = _failing_queries()
    assert [(r["job_name"], r["failures"], r["last_error"]) for r in rows] == [("refresh_tokens", 3, "SpotifyServerError 0")]
    assert rows[0]["last_run_id"] == JobRun.objects.get(task_id="refresh_tokens-0").pk

    for job, n in (("verify_playlists", 5), ("retention", 1), ("metrics_snapshot", 2), ("scale_playlists_daily", 4)):
        _fail(job, n, now, f"{job} broke")
    rows, five = _failing_queries()
    assert [(r["job_name"], r["failures"]) for r in rows] == [
        ("verify_playlists", 5),
        ("scale_playlists_daily", 4),
        ("refresh_tokens", 3),
        ("metrics_snapshot", 2),
        ("retention", 1),
    ]
    assert rows[-1]["last_error"] == "retention broke 0"
    assert one == five == 2
