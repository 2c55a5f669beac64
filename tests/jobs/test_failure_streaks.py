"""Failure streaks (the JobFailing alert and the opsconsole_job_failure_streak gauge): the failed
runs since a job's last success, read in one query however many jobs and runs there are."""

from __future__ import annotations

from datetime import datetime, timedelta
from itertools import count

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from alerts.evaluator import alerts_evaluate
from alerts.models import Alert
from jobs.models import JobRun
from jobs.selectors import FailureStreak, job_failure_streaks
from tests.fixtures_alerts import rule_only

pytestmark = pytest.mark.django_db

_ids = count()


def _run(job: str, status: str, finished: datetime | None, error: str = "") -> None:
    JobRun.objects.create(
        job_name=job, task_name=job, task_id=f"streak-{next(_ids)}", status=status, finished_at=finished, error=error
    )


def test_a_streak_counts_the_failures_since_the_last_success_and_keeps_the_newest_error() -> None:
    now = timezone.now()
    _run("recovering", "failed", now - timedelta(hours=5), "Traceback\nOld: boom")
    _run("recovering", "success", now - timedelta(hours=4))
    _run("recovering", "failed", now - timedelta(hours=3), "Traceback\nTimeoutError: first")
    _run("recovering", "revoked", now - timedelta(hours=2))  # neither success nor failure
    _run("recovering", "retrying", None)
    _run("recovering", "failed", None, "no finish time: not counted")
    _run("recovering", "failed", now - timedelta(hours=1), "Traceback\nTimeoutError: second")
    _run("never_succeeded", "failed", now - timedelta(days=20), "a")
    _run("never_succeeded", "failed", now - timedelta(days=10), "b")
    _run("healthy", "failed", now - timedelta(hours=2), "x")
    _run("healthy", "success", now - timedelta(hours=1))

    streaks = job_failure_streaks(names=["recovering", "never_succeeded", "healthy", "no_runs"])

    assert streaks == {
        "never_succeeded": FailureStreak(failed=2, last_error="b"),
        "recovering": FailureStreak(failed=2, last_error="TimeoutError: second"),
    }
    assert job_failure_streaks(names=[]) == {}


def test_streaks_of_every_job_are_one_query() -> None:
    now = timezone.now()
    for job in ("a", "b"):
        _run(job, "failed", now - timedelta(minutes=5), "boom")
    with CaptureQueriesContext(connection) as two:
        assert set(job_failure_streaks(names=["a", "b"])) == {"a", "b"}
    for job in ("c", "d", "e", "f", "g", "h", "i", "j"):
        for minutes in range(1, 6):
            _run(job, "failed", now - timedelta(minutes=minutes), "boom")
    with CaptureQueriesContext(connection) as ten:
        streaks = job_failure_streaks(names=list("abcdefghij"))
    assert len(streaks) == 10 and streaks["j"].failed == 5
    assert len(ten.captured_queries) == len(two.captured_queries) == 1


def test_job_failing_opens_on_the_streak_and_resolves_on_the_next_success() -> None:
    rule_only("JobFailing", channels=[], params={"times": 3, "job": "refresh_tokens"})
    now = timezone.now()
    for minutes in (30, 20, 10):
        _run("refresh_tokens", "failed", now - timedelta(minutes=minutes), "Traceback\nSpotifyServerError: HTTP 503")
    assert alerts_evaluate()["opened"] == 1
    alert = Alert.objects.get(subject="refresh_tokens")
    assert alert.summary == "refresh_tokens failed 3 times in a row: SpotifyServerError: HTTP 503"
    _run("refresh_tokens", "success", now)
    assert alerts_evaluate()["resolved"] == 1
