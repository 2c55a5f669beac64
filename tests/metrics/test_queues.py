from __future__ import annotations

import base64
import os

import pytest
from django.contrib.auth.models import User
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from accounts.models import SpotifyApp
from accounts.services import account_onboard
from jobs.beat import beat_heartbeat
from jobs.models import JobRun
from jobs.schedule import schedule_sync
from jobs.specs import JOBS
from metrics.queues import FAILED_WINDOW, failed_recent
from opsconsole.celery import app as celery_app
from tests.fixtures_clients import client_for, token_client

pytestmark = pytest.mark.usefixtures("short_probe_timeouts")


def _queues(user: User) -> dict:  # type: ignore[type-arg]
    response = client_for(user).get("/api/ops/queues")
    assert response.status_code == 200, response.content
    return response.json()


def _queue(body: dict, name: str = "default") -> dict:  # type: ignore[type-arg]
    return next(q for q in body["queues"] if q["name"] == name)


@pytest.mark.django_db
def test_anonymous_and_non_staff_get_no_data(nonstaff: User) -> None:
    assert Client().get("/api/ops/queues").status_code in (401, 403)
    assert client_for(nonstaff).get("/api/ops/queues").status_code == 403


@pytest.mark.django_db
def test_without_any_worker_or_beat_the_report_is_offline_not_an_error(superuser: User) -> None:
    celery_app.send_task("metrics_snapshot")
    celery_app.send_task("retention")
    body = _queues(superuser)
    assert body["status"] == "offline"
    assert body["workers"] == []
    assert {"no_workers", "scheduler_unreachable"} <= set(body["warnings"])
    assert _queue(body)["size"] == 2
    assert body["checked_at"]


@pytest.mark.django_db
def test_without_workers_but_with_beat_the_report_is_degraded(superuser: User) -> None:
    schedule_sync()
    beat_heartbeat()
    body = _queues(superuser)
    assert body["status"] == "degraded"
    assert body["scheduler"]["healthy"] is True
    assert body["scheduler"]["scheduled_jobs"] == len(JOBS)
    assert body["scheduler"]["last_beat_tick"]
    assert body["warnings"] == ["no_workers"]


@pytest.mark.django_db
def test_failed_runs_of_the_last_day_are_counted_per_queue(superuser: User) -> None:
    now = timezone.now()
    for i, age_hours in enumerate([1, 5, 30]):
        JobRun.objects.create(
            job_name="retention", task_name="retention", task_id=f"t{i}", status=JobRun.Status.FAILED,
            started_at=now - timezone.timedelta(hours=age_hours), finished_at=now - timezone.timedelta(hours=age_hours),
        )
    assert _queue(_queues(superuser))["failed"] == 2


@pytest.mark.django_db
def test_failed_runs_per_queue_are_counted_in_one_query_of_a_row_per_task() -> None:
    now = timezone.now()
    for i, task_name in enumerate(["retention", "retention", "refresh_tokens", "verify_playlists", "verify_playlists"]):
        JobRun.objects.create(
            job_name=task_name, task_name=task_name, task_id=f"f{i}", status=JobRun.Status.FAILED,
            finished_at=now - timezone.timedelta(minutes=i + 1),
        )
    with CaptureQueriesContext(connection) as queries:
        counts = failed_recent(since=now - FAILED_WINDOW)
    assert counts == {"default": 5}
    assert len(queries.captured_queries) == 1 and "GROUP BY" in queries.captured_queries[0]["sql"]


@pytest.mark.django_db
def test_vault_reports_keys_and_whether_a_stored_token_decrypts(superuser: User, settings) -> None:  # type: ignore[no-untyped-def]
    app = SpotifyApp.objects.create(name="a", client_id="cid", client_secret="secret")
    account_onboard(app=app, spotify_user_id="u1", display_name="U1", refresh_token="refresh-1")
    vault = _queues(superuser)["vault"]
    assert vault["keys_configured"] == len(settings.TOKEN_ENCRYPTION_KEYS)
    assert vault["primary_key_ok"] is True
    assert vault["decrypts_sample"] is True
    # Deploying with the wrong key: the tokens on disk no longer decrypt.
    settings.TOKEN_ENCRYPTION_KEYS = [base64.urlsafe_b64encode(os.urandom(32)).decode()]
    body = _queues(superuser)
    assert body["vault"]["decrypts_sample"] is False
    assert "vault_unhealthy" in body["warnings"]
    assert "refresh-1" not in str(body)


@pytest.mark.django_db
def test_ops_admin_emails_limit_who_may_look(superuser: User, operator: User, settings) -> None:  # type: ignore[no-untyped-def]
    settings.OPS_ADMIN_EMAILS = ["root@example.com"]
    assert client_for(operator).get("/api/ops/queues").status_code == 403
    assert token_client(operator).get("/api/ops/queues").status_code == 403
    assert client_for(superuser).get("/api/ops/queues").status_code == 200
    settings.OPS_ADMIN_EMAILS = []
    assert client_for(operator).get("/api/ops/queues").status_code == 200


def test_with_a_live_worker_the_report_shows_it_and_its_tasks(start_celery_worker, superuser: User, settings) -> None:  # type: ignore[no-untyped-def]
    settings.QUEUES_INSPECT_TIMEOUT_SECONDS = 3.0
    schedule_sync()
    beat_heartbeat()
    worker = start_celery_worker(include=["tests.metrics.worker_tasks"])
    running = celery_app.send_task("ops_test_sleep", kwargs={"seconds": 4})
    deferred = celery_app.send_task("ops_test_sleep", kwargs={"seconds": 0}, countdown=600)
    worker.wait_until(lambda: JobRun.objects.filter(task_id=running.id, status=JobRun.Status.RUNNING).exists())
    body = _queues(superuser)
    assert body["status"] == "online", body
    mine = next(w for w in body["workers"] if w["name"] == worker.hostname)
    assert mine["queues"] == ["default"]
    assert mine["state"] == "busy"
    assert running.id in mine["current_task_ids"]
    assert mine["current_job_id"] == running.id
    default = _queue(body)
    assert default["started"] == 1
    assert default["deferred"] == 1
    assert default["size"] == 0
    assert default["consumers"] == 1
    assert "no_workers" not in body["warnings"]
    assert deferred.id not in mine["current_task_ids"]
    # When the long task is done the worker is idle again.
    worker.wait_until(lambda: JobRun.objects.filter(task_id=running.id, status=JobRun.Status.SUCCESS).exists())
    mine = next(w for w in _queues(superuser)["workers"] if w["name"] == worker.hostname)
    assert mine["state"] == "idle" and mine["current_task_ids"] == []
