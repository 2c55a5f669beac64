"""Each job's last run and the schedule's lateness (the jobs API, /health, JobLate, /metrics) are read
one index probe per job and in a fixed number of queries, whatever the history or the schedule holds."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from django_celery_beat.models import PeriodicTask

from jobs.models import JobRun
from jobs.schedule import schedule_sync
from jobs.selectors import job_names, jobs_last_run, jobs_overview
from jobs.specs import JOBS

pytestmark = pytest.mark.django_db


def _run(task_id: str, job: str, **fields: object) -> JobRun:
    return JobRun.objects.create(job_name=job, task_name=job, task_id=task_id, **fields)


def test_the_last_run_of_each_job_is_its_newest_and_a_run_not_started_yet_comes_first() -> None:
    now = timezone.now()
    _run("a-old", "alpha", status="success", started_at=now - timedelta(hours=2))
    newest_alpha = _run("a-new", "alpha", status="failed", started_at=now - timedelta(hours=1))
    _run("b-started", "beta", status="success", started_at=now - timedelta(minutes=5))
    queued_beta = _run("b-queued", "beta", queued_at=now - timedelta(days=3))

    with CaptureQueriesContext(connection) as queries:
        last = jobs_last_run(names=["alpha", "beta", "gamma"])

    assert {name: run.pk for name, run in last.items()} == {"alpha": newest_alpha.pk, "beta": queued_beta.pk}
    assert len(queries.captured_queries) == 1
    assert job_names() == ["alpha", "beta"]
    assert jobs_last_run(names=[]) == {}


def test_the_overview_costs_the_same_queries_for_three_scheduled_jobs_or_all_of_them() -> None:
    schedule_sync()
    now = timezone.now()
    # Scheduled two days ago: every task owes runs (a slot before the last change is owed none).
    PeriodicTask.objects.update(date_changed=now - timedelta(days=2))
    for i, job in enumerate(JOBS):
        for minutes in (90, 30):
            _run(f"{job.name}-{minutes}", job.name, status="success", started_at=now - timedelta(minutes=minutes + i))
    with CaptureQueriesContext(connection) as every_job:
        rows = jobs_overview(now=now)
    assert len(rows) == len(JOBS) and all(row["last_started_at"] for row in rows)

    kept = ["ingest_albums_from_sources", "refresh_tokens", "retention"]
    PeriodicTask.objects.exclude(name__in=kept).delete()
    with CaptureQueriesContext(connection) as three:
        rows = jobs_overview(now=now)
    assert [row["name"] for row in rows] == kept
    assert len(three.captured_queries) == len(every_job.captured_queries)
