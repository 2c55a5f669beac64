"""p50/p95 of successful runs per job (7 and 30 days) and the periodic-task admin's columns."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.contrib.auth.models import User
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from django_celery_beat.models import CrontabSchedule, PeriodicTask

from jobs.schedule import schedule_sync
from jobs.selectors import DurationStats, job_duration_daily_p95, job_duration_stats, job_lateness
from tests.factories import record_job_run

pytestmark = pytest.mark.django_db

CHANGELIST = "/admin/django_celery_beat/periodictask/"


def _refresh_tokens_history(now: datetime) -> None:
    # Last 7 days: 1..21 s (p50 11 s, p95 20 s); 10 to 20 days ago: ten runs of 100 s.
    for n in range(1, 22):
        record_job_run("refresh_tokens", n, finished_at=now - timedelta(hours=7 * n))
    for n in range(10):
        record_job_run("refresh_tokens", 100, finished_at=now - timedelta(days=10 + n))


def test_p50_and_p95_of_successful_runs_per_job_over_7_and_30_days() -> None:
    now = timezone.now()
    _refresh_tokens_history(now)
    record_job_run("refresh_tokens", 500, finished_at=now - timedelta(hours=1), status="failed")
    record_job_run("refresh_tokens", 900, finished_at=now - timedelta(minutes=1), status="running")
    record_job_run("refresh_tokens", 700, finished_at=now - timedelta(days=31))
    record_job_run("retention", 4, finished_at=now - timedelta(days=12))

    stats = job_duration_stats(now=now)

    # All 31 within 30 days: [1..21, 100 × 10] → p50 the 16th value, p95 between two 100 s.
    assert stats["refresh_tokens"] == {7: DurationStats(21, 11_000, 20_000), 30: DurationStats(31, 16_000, 100_000)}
    assert stats["retention"] == {7: DurationStats(0, None, None), 30: DurationStats(1, 4_000, 4_000)}
    assert set(job_duration_stats(now=now, job_names=["retention"])) == {"retention"}
    assert job_duration_stats(days=(1,), now=now)["refresh_tokens"][1].runs == 3


def test_daily_p95_per_job_over_30_days_for_the_dashboard() -> None:
    now = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)
    for seconds in (1, 2, 3, 4, 5):
        record_job_run("retention", seconds, finished_at=now - timedelta(days=1, minutes=seconds))
    record_job_run("retention", 9, finished_at=now - timedelta(minutes=5))
    record_job_run("retention", 9, finished_at=now - timedelta(days=30))

    daily = job_duration_daily_p95(now=now)

    assert len(daily["days"]) == 30 and daily["days"][0] == "2026-11-08" and daily["days"][-1] == "2026-12-07"
    series = daily["jobs"]["retention"]
    assert series[-2] == pytest.approx(4_800) and series[-1] == 9_000
    assert series[:-2] == [None] * 28


@pytest.fixture
def staff(superuser: User) -> Client:
    client = Client()
    client.force_login(superuser)
    return client


def test_the_periodic_task_list_shows_p50_and_p95_next_to_run_now(staff: Client) -> None:
    schedule_sync()
    _refresh_tokens_history(timezone.now())

    page = staff.get(CHANGELIST).content.decode()

    headers = [h.split("</div>")[0] for h in page.split('<div class="text">')[1:]]
    assert [h for h in headers if "p95" in h] == [
        '<span><abbr title="median of the successful runs">p50</abbr> / '
        f'<abbr title="95th percentile of the successful runs">p95</abbr> ({days} d)</span>'
        for days in (7, 30)
    ]
    assert "Run now" in page
    row = page[page.index(">refresh_tokens<") :].split("</tr>")[0]
    assert "11.0 s / 20.0 s" in row and "21 runs" in row
    assert "16.0 s / 1.7 min" in row and "31 runs" in row
    assert row.index("11.0 s / 20.0 s") < row.index("16.0 s / 1.7 min")
    retention = page[page.index(">retention<") :].split("</tr>")[0]
    assert retention.count("—") == 2


def _tasks(count: int) -> None:
    """`count` more enabled crontab tasks owed a run (changed long ago), each with run history."""
    crontab, _ = CrontabSchedule.objects.get_or_create(minute="0", hour="*", day_of_week="*", day_of_month="*", month_of_year="*")
    start = PeriodicTask.objects.count()
    for n in range(start, start + count):
        PeriodicTask.objects.create(name=f"extra {n}", task=f"extra_job_{n}", crontab=crontab)
        record_job_run(f"extra_job_{n}", 2, finished_at=timezone.now() - timedelta(hours=2))
    PeriodicTask.objects.update(date_changed=datetime(2026, 1, 1, tzinfo=UTC))


def test_the_periodic_task_list_makes_as_many_queries_for_30_tasks_as_for_3(staff: Client) -> None:
    _tasks(3)
    staff.get(CHANGELIST)  # session, content types and permissions warm
    with CaptureQueriesContext(connection) as few:
        assert staff.get(CHANGELIST).status_code == 200
    _tasks(27)
    with CaptureQueriesContext(connection) as many:
        page = staff.get(CHANGELIST).content.decode()

    assert page.count('class="action-select"') == 30
    assert page.count("2.0 s / 2.0 s") == 30 * 2
    # Each task's last slot (at most 90 min ago) saw no run, the runs are 2 h old: all late, read
    # with the page's one query for runs.
    assert page.count(">LATE<") == 30
    assert len(many.captured_queries) == len(few.captured_queries), [q["sql"] for q in many.captured_queries]


def test_lateness_of_two_tasks_running_the_same_job_on_different_schedules() -> None:
    hourly, _ = CrontabSchedule.objects.get_or_create(minute="0", hour="*", day_of_week="*", day_of_month="*", month_of_year="*")
    halves, _ = CrontabSchedule.objects.get_or_create(minute="30", hour="*", day_of_week="*", day_of_month="*", month_of_year="*")
    now = datetime(2026, 12, 7, 12, 50, tzinfo=UTC)
    PeriodicTask.objects.create(name="sweep at :00", task="sweep", crontab=hourly)
    PeriodicTask.objects.create(name="sweep at :30", task="sweep", crontab=halves)
    PeriodicTask.objects.update(date_changed=datetime(2026, 1, 1, tzinfo=UTC))
    record_job_run("sweep", 1, finished_at=datetime(2026, 12, 7, 11, 31, 1, tzinfo=UTC))

    late = {task.name: job_lateness(task, now=now).late for task in PeriodicTask.objects.select_related("crontab")}

    # Grace 30 min: the :30 task is owed its 11:30 run and had it; the :00 task is owed a 12:00
    # run, and the 11:31 run (the first of the job's since 11:30) is not that one.
    assert late == {"sweep at :00": True, "sweep at :30": False}
