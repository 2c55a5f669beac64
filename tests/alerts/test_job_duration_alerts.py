"""JobSlow and JobFast: each job against its own history, real runs, and params refused where rules
are edited."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from django.apps import apps as global_apps
from django.contrib.auth.models import User
from django.db.models import F
from django.test import Client
from django.utils import timezone

from accounts.tasks import refresh_tokens
from alerts.conditions import rule_params_errors
from alerts.evaluator import alerts_evaluate
from alerts.models import Alert, AlertRule
from alerts.rules import RULES
from jobs.models import JobRun
from jobs.services import job_enqueue
from tests.factories import record_job_run
from tests.fixtures_alerts import rule_only

SLEEP = "ops_test_sleep"  # tests/metrics/worker_tasks.py


def _history_through_a_worker(worker: Any, runs: int) -> None:
    """`runs` quick runs of the sleep task on the worker, then moved two hours back: the job's
    history before the window JobSlow judges."""
    queued = [job_enqueue(SLEEP, trigger="api", kwargs={"seconds": 0.05}) for _ in range(runs)]
    worker.wait_until(lambda: JobRun.objects.filter(pk__in=[r.pk for r in queued], status="success").count() == runs, timeout=60)
    JobRun.objects.filter(pk__in=[r.pk for r in queued]).update(
        started_at=F("started_at") - timedelta(hours=2), finished_at=F("finished_at") - timedelta(hours=2)
    )


def _slow_rule() -> AlertRule:
    # min_seconds lowered from 10 s: the test's "slow" run lasts seconds, not minutes.
    return rule_only("JobSlow", channels=[], params={"factor": 2, "window_days": 7, "min_runs": 5, "min_seconds": 0.5})


def test_a_real_run_slower_than_twice_its_jobs_p95_opens_job_slow_while_running_and_after(
    start_celery_worker: Callable[..., Any],
) -> None:
    worker = start_celery_worker(include=["tests.metrics.worker_tasks"])
    _history_through_a_worker(worker, 5)
    rule = _slow_rule()

    slow = job_enqueue(SLEEP, trigger="api", kwargs={"seconds": 4})
    running = worker.wait_until(
        lambda: JobRun.objects.filter(
            pk=slow.pk, status="running", started_at__lte=timezone.now() - timedelta(seconds=1)
        ).first(),
        timeout=60,
    )
    assert alerts_evaluate()["opened"] == 1
    alert = Alert.objects.get(rule=rule)
    assert (alert.subject, alert.severity, alert.state) == (SLEEP, "warning", "open")
    assert alert.summary.startswith(f"{SLEEP} has been running for ")
    assert alert.details["task_id"] == running.task_id and alert.details["running"] is True
    assert alert.details["runs"] == 5 and alert.details["p95_ms"] * 2 < alert.details["duration_ms"]

    worker.wait_until(lambda: JobRun.objects.filter(pk=slow.pk, status="success").exists(), timeout=60)
    assert alerts_evaluate()["opened"] == 0
    alert.refresh_from_db()
    assert alert.state == "open" and alert.summary.startswith(f"{SLEEP} took 4.")
    assert alert.details["running"] is False

    # An hour after the slow run ended (recent_minutes), the condition has cleared.
    assert alerts_evaluate(now=timezone.now() + timedelta(minutes=61))["resolved"] == 1


def test_job_slow_never_fires_for_a_job_with_fewer_runs_than_min_runs(start_celery_worker: Callable[..., Any]) -> None:
    worker = start_celery_worker(include=["tests.metrics.worker_tasks"])
    _history_through_a_worker(worker, 4)
    rule = _slow_rule()

    slow = job_enqueue(SLEEP, trigger="api", kwargs={"seconds": 1.5})
    worker.wait_until(lambda: JobRun.objects.filter(pk=slow.pk, status="success").exists(), timeout=60)
    assert alerts_evaluate()["opened"] == 0

    # A fifth run of history: the same slow run is now judged, and is slow.
    _history_through_a_worker(worker, 1)
    assert alerts_evaluate()["opened"] == 1
    assert Alert.objects.get(rule=rule).details["task_id"] == slow.task_id


@pytest.mark.django_db
def test_job_slow_leaves_short_runs_alone_whatever_the_ratio() -> None:
    now = timezone.now()
    for n in range(5):
        record_job_run("evaluate_alerts", 0.05, finished_at=now - timedelta(hours=2, minutes=n))
    record_job_run("evaluate_alerts", 0.4, finished_at=now - timedelta(minutes=1))
    rule_only("JobSlow", channels=[])  # built-in params: min_seconds 10

    assert alerts_evaluate()["opened"] == 0


@pytest.mark.django_db
def test_a_real_run_finishing_under_its_floor_opens_job_fast_with_the_built_in_params() -> None:
    now = timezone.now()
    for n in range(5):
        record_job_run("refresh_tokens", 5 + n, finished_at=now - timedelta(days=1, hours=n))
    rule = rule_only("JobFast", channels=[])
    assert rule.params["floor_seconds"] == {"default": 0.5, "jobs": {"ingest_albums_from_sources": 1}}

    result = refresh_tokens.apply()  # no account to refresh: done in milliseconds

    run = JobRun.objects.get(task_id=result.id)
    assert run.status == "success" and run.duration_ms is not None and run.duration_ms < 500
    assert alerts_evaluate()["opened"] == 1
    alert = Alert.objects.get(rule=rule)
    assert alert.subject == "refresh_tokens" and alert.details["task_id"] == run.task_id
    assert "under its floor of 0.5 s (7-day median 7.0 s)" in alert.summary


@pytest.mark.django_db
def test_job_fast_spares_a_quick_run_that_says_why_it_did_nothing() -> None:
    now = timezone.now()
    for n in range(5):
        record_job_run("fetch_audio_features", 5 + n, finished_at=now - timedelta(days=1, hours=n))
    rule = rule_only("JobFast", channels=[])
    skipped = record_job_run("fetch_audio_features", 0.02, finished_at=now - timedelta(minutes=1))
    JobRun.objects.filter(pk=skipped.pk).update(summary={"skipped": "another worker is fetching audio features"})
    assert alerts_evaluate()["opened"] == 0

    record_job_run("fetch_audio_features", 0.02, finished_at=now - timedelta(seconds=30))
    assert alerts_evaluate()["opened"] == 1
    assert Alert.objects.get(rule=rule).subject == "fetch_audio_features"


@pytest.mark.django_db
def test_job_fast_spares_jobs_that_are_always_quick_and_chained_tasks_without_their_own_floor() -> None:
    now = timezone.now()
    for n in range(5):
        record_job_run("metrics_snapshot", 0.2, finished_at=now - timedelta(days=1, hours=n))  # always quick
        record_job_run("playlist_sync_one", 3, finished_at=now - timedelta(days=1, hours=n))  # chained, not scheduled
    record_job_run("metrics_snapshot", 0.1, finished_at=now - timedelta(minutes=2))
    record_job_run("playlist_sync_one", 0.1, finished_at=now - timedelta(minutes=2))
    rule = rule_only("JobFast", channels=[])
    assert alerts_evaluate()["opened"] == 0

    rule.params = {"floor_seconds": {"default": 0.5, "jobs": {"playlist_sync_one": 1}}}
    rule.save()
    assert alerts_evaluate()["opened"] == 1
    assert Alert.objects.get(rule=rule).subject == "playlist_sync_one"


@pytest.mark.parametrize(
    ("kind", "params", "errors"),
    [
        ("job_slow", {"factor": 1}, {"factor": "a number above 1 and at most 100"}),
        ("job_slow", {"factor": 100.5}, {"factor": "a number above 1 and at most 100"}),
        ("job_slow", {"factor": "2"}, {"factor": "a number above 1 and at most 100"}),
        (
            "job_slow",
            {"window_days": 0, "min_runs": 0},
            {"window_days": "a whole number from 1 to 90", "min_runs": "a whole number from 1 to 100000"},
        ),
        ("job_slow", {"window_days": 91}, {"window_days": "a whole number from 1 to 90"}),
        ("job_slow", {"window_days": 7.5}, {"window_days": "a whole number from 1 to 90"}),
        (
            "job_slow",
            {"factr": 3},
            {"params": "unknown parameter factr; this kind takes factor, window_days, min_runs, min_seconds, recent_minutes"},
        ),
        ("job_fast", {"floor_seconds": {"default": -1}}, {"floor_seconds.default": "seconds, a number from 0 to 86400"}),
        (
            "job_fast",
            {"floor_seconds": {"jobs": {"retention": -0.5}}},
            {"floor_seconds.jobs.retention": "seconds, a number from 0 to 86400"},
        ),
        (
            "job_fast",
            {"floor_seconds": 0.5},
            {"floor_seconds": 'an object {"default": seconds or null, "jobs": {"<job name>": seconds}}'},
        ),
        ("job_fast", [], {"params": 'an object of parameters, e.g. {"factor": 2}'}),
    ],
)
def test_job_duration_params_out_of_range_are_refused_with_their_reason(kind: str, params: Any, errors: dict[str, str]) -> None:
    assert rule_params_errors(kind, params) == errors


def test_the_built_in_job_duration_params_are_valid() -> None:
    specs = [spec for spec in RULES if spec.kind in ("job_slow", "job_fast")]
    assert [spec.name for spec in specs] == ["JobSlow", "JobFast"]
    assert all(rule_params_errors(spec.kind, spec.params) == {} for spec in specs)
    assert rule_params_errors("job_fast", {"floor_seconds": {"default": None, "jobs": {"retention": 0}}, "min_runs": 0}) == {}


def _change_form_data(rule: AlertRule, params: str) -> dict[str, Any]:
    return {
        "name": rule.name,
        "kind": rule.kind,
        "description": rule.description,
        "runbook": rule.runbook,
        "params": params,
        "severity": rule.severity,
        "pending_for": "00:00:00",
        "reminder_interval": "01:00:00",
        "enabled": "on",
    }


@pytest.mark.django_db
def test_the_rule_admin_refuses_bad_params_with_field_errors_and_saves_good_ones(superuser: User, alert_rules: list) -> None:
    client = Client()
    client.force_login(superuser)
    rule = AlertRule.objects.get(name="JobSlow")
    url = f"/admin/alerts/alertrule/{rule.pk}/change/"

    refused = client.post(url, _change_form_data(rule, '{"factor": 0.5, "window_days": 120}'))
    assert refused.status_code == 200
    errors = refused.context["adminform"].form.errors
    assert errors == {"params": ["factor: a number above 1 and at most 100", "window_days: a whole number from 1 to 90"]}
    rule.refresh_from_db()
    assert rule.params["factor"] == 2.0

    fast = AlertRule.objects.get(name="JobFast")
    refused = client.post(
        f"/admin/alerts/alertrule/{fast.pk}/change/", _change_form_data(fast, '{"floor_seconds": {"default": -2}}')
    )
    assert refused.context["adminform"].form.errors == {"params": ["floor_seconds.default: seconds, a number from 0 to 86400"]}

    saved = client.post(url, _change_form_data(rule, '{"factor": 3, "window_days": 14}'))
    assert saved.status_code == 302
    rule.refresh_from_db()
    assert rule.params == {"factor": 3, "window_days": 14}


@pytest.mark.django_db
def test_a_rule_holding_bad_params_stops_evaluating_and_says_why() -> None:
    rule = rule_only("JobSlow", channels=[], params={"factor": 0})

    assert alerts_evaluate()["errors"] == 1
    rule.refresh_from_db()
    assert rule.last_error == "RuleParamsError: factor: a number above 1 and at most 100"


@pytest.mark.django_db
def test_the_migration_adds_the_job_duration_rules_and_no_rule_an_operator_deleted(alert_rules: list) -> None:
    AlertRule.objects.filter(name__in=["JobSlow", "JobFast", "NoWorkers"]).delete()
    migration = importlib.import_module("alerts.migrations.0006_job_duration_rules")

    migration.seed(global_apps, None)

    names = set(AlertRule.objects.values_list("name", flat=True))
    assert {"JobSlow", "JobFast"} <= names and "NoWorkers" not in names
    slow = AlertRule.objects.get(name="JobSlow")
    assert (slow.kind, slow.severity, slow.runbook) == ("job_slow", "warning", "job-durations.md")
