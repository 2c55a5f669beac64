"""Job ping URLs: a real worker pings start/success/fail to a real HTTP server; a dead monitor
never fails the job; the jobs API sets the URL (write-only, audited, SSRF-checked)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client

from audit.models import AuditEvent
from jobs.models import JobPing, JobRun
from jobs.schedule import schedule_sync
from jobs.services import job_enqueue, job_ping_set
from tests.fixtures_alerts import HttpReceiver


def test_a_real_worker_pings_start_then_success_or_fail(
    start_celery_worker: Callable[..., Any], http_receiver: HttpReceiver
) -> None:
    job_ping_set(name="ops_test_sleep", url=f"{http_receiver.url}/ping/abc-123", actor="cli:test")
    worker = start_celery_worker(include=["tests.metrics.worker_tasks"])

    ok = job_enqueue("ops_test_sleep", trigger="api", kwargs={"seconds": 0})
    worker.wait_until(lambda: JobRun.objects.get(pk=ok.pk).status == "success")
    http_receiver.wait_for(2)
    assert http_receiver.paths() == ["/ping/abc-123/start", "/ping/abc-123"]

    failed = job_enqueue("ops_test_sleep", trigger="api", kwargs={"seconds": "not a number"})
    worker.wait_until(lambda: JobRun.objects.get(pk=failed.pk).status == "failed")
    http_receiver.wait_for(4)
    assert http_receiver.paths()[2:] == ["/ping/abc-123/start", "/ping/abc-123/fail"]
    assert {r.method for r in http_receiver.requests} == {"GET"}


def test_an_unreachable_monitor_never_fails_the_job(start_celery_worker: Callable[..., Any]) -> None:
    job_ping_set(name="ops_test_sleep", url="http://127.0.0.1:9/ping/dead", actor="cli:test")
    worker = start_celery_worker(include=["tests.metrics.worker_tasks"])
    run = job_enqueue("ops_test_sleep", trigger="api", kwargs={"seconds": 0})
    worker.wait_until(lambda: JobRun.objects.get(pk=run.pk).status in ("success", "failed"))
    assert JobRun.objects.get(pk=run.pk).status == "success"


@pytest.mark.django_db
def test_the_jobs_api_sets_and_clears_a_ping_url_without_ever_showing_it(operator: User, viewer: User, settings: Any) -> None:
    schedule_sync()
    ops, view = Client(), Client()
    ops.force_login(operator)
    view.force_login(viewer)
    url = "https://hc-ping.example.com/6d1c7bd0-secret"
    settings.ALERT_WEBHOOK_ALLOW_PRIVATE = True  # no DNS lookup for the example host in a test
    answer = ops.post("/api/v1/jobs/update", {"name": "refresh_tokens", "ping_url": url}, content_type="application/json")
    assert answer.status_code == 200, answer.content
    assert answer.json()["ping_url_changed"] is True
    assert JobPing.objects.get(job_name="refresh_tokens").url == url
    listing = view.get("/api/v1/jobs/list").content.decode()
    assert "6d1c7bd0-secret" not in listing
    assert {j["name"]: j["ping_url_set"] for j in view.get("/api/v1/jobs/list").json()["jobs"]}["refresh_tokens"] is True
    assert (
        view.post("/api/v1/jobs/update", {"name": "refresh_tokens", "ping_url": ""}, content_type="application/json").status_code
        == 403
    )

    settings.ALERT_WEBHOOK_ALLOW_PRIVATE = False
    refused = ops.post(
        "/api/v1/jobs/update", {"name": "refresh_tokens", "ping_url": "http://127.0.0.1:6379/"}, content_type="application/json"
    )
    assert refused.status_code == 400 and "ping_url" in refused.json()["errors"]

    cleared = ops.post("/api/v1/jobs/update", {"name": "refresh_tokens", "ping_url": ""}, content_type="application/json")
    assert cleared.status_code == 200 and not JobPing.objects.exists()
    assert list(AuditEvent.objects.filter(target_id="refresh_tokens").values_list("action", flat=True).order_by("id")) == [
        "job.ping_url_set",
        "job.ping_url_clear",
    ]
