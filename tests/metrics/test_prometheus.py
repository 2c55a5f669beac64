from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.utils import timezone
from prometheus_client.parser import text_string_to_metric_families

from accounts.models import SpotifyAccount
from accounts.services import account_onboard, app_get_or_create_default
from core.counters import counter_inc
from jobs import services as job_services
from jobs.models import JobRun
from tests.fixtures_clients import client_for, token_client

pytestmark = pytest.mark.usefixtures("short_probe_timeouts")


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def scrape(client: Client) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    response = client.get("/metrics")
    assert response.status_code == 200, response.content
    assert response["Content-Type"].startswith("text/plain")
    return samples(response.content.decode())


@pytest.mark.django_db
def test_metrics_need_staff_or_an_allowlisted_address(settings, viewer: User, nonstaff: User) -> None:  # type: ignore[no-untyped-def]
    assert Client().get("/metrics").status_code == 403
    assert client_for(nonstaff).get("/metrics").status_code == 403
    assert Client(HTTP_X_FORWARDED_FOR="10.9.9.9").get("/metrics", REMOTE_ADDR="198.51.100.1").status_code == 403
    settings.HEALTH_ALLOWLIST = ["10.9.0.0/16"]
    assert Client().get("/metrics", REMOTE_ADDR="10.9.9.9").status_code == 200
    assert token_client(viewer, "Bearer").get("/metrics").status_code == 200


@pytest.mark.django_db
def test_account_health_gauge_and_job_history_metrics(superuser: User) -> None:
    app = app_get_or_create_default()
    app.user_cap = 10
    app.save()
    for i, health in enumerate(["ok", "ok", "degraded", "reauth_required"]):
        account = account_onboard(app=app, spotify_user_id=f"u{i}", display_name=f"U{i}", refresh_token=f"r{i}")
        SpotifyAccount.objects.filter(pk=account.pk).update(health=health)
    SpotifyAccount.objects.filter(spotify_user_id="u1").update(is_active=False)
    now = timezone.now()
    for i, (status, ms) in enumerate([("success", 1500), ("success", 500), ("failed", 250)]):
        JobRun.objects.create(
            job_name="refresh_tokens", task_name="refresh_tokens", task_id=f"t{i}", status=status,
            started_at=now, finished_at=now, duration_ms=ms,
        )
    metrics = scrape(client_for(superuser))
    assert metrics[("account_health", (("status", "ok"),))] == 1
    assert metrics[("account_health", (("status", "degraded"),))] == 1
    assert metrics[("account_health", (("status", "reauth_required"),))] == 1
    assert metrics[("account_health", (("status", "quarantined"),))] == 0
    # job_runs_total counts runs as they finish, not rows (tests/metrics/test_alert_metrics.py).
    assert metrics[("job_duration_seconds_count", (("job", "refresh_tokens"),))] == 3
    assert metrics[("job_duration_seconds_sum", (("job", "refresh_tokens"),))] == pytest.approx(2.25)


@pytest.mark.django_db
def test_counters_counted_in_this_process_are_exported(superuser: User) -> None:
    counter_inc("spotify_retries_total", status="429")
    counter_inc("spotify_retries_total", status="429")
    counter_inc("spotify_requests_total", endpoint="albums")
    metrics = scrape(client_for(superuser))
    assert metrics[("spotify_retries_total", (("status", "429"),))] == 2
    assert metrics[("spotify_requests_total", (("endpoint", "albums"),))] == 1
    assert metrics[("playlists_created_total", ())] == 0


def _wait_for_runs(worker: Any, task_ids: list[str]) -> None:
    worker.wait_until(
        lambda: JobRun.objects.filter(task_id__in=task_ids, status__in=["success", "failed"]).count() == len(task_ids),
        timeout=60,
    )


def test_events_in_a_worker_process_reach_the_web_process_metrics(  # type: ignore[no-untyped-def]
    start_celery_worker, spotify_emulator, superuser: User
) -> None:
    """A real token refresh in a worker (one 500 from Spotify first), a snapshot job and
    counted events: the web process exports what the worker did."""
    app = app_get_or_create_default()
    user = spotify_emulator.create_user("worker-user", client_id=app.client_id)
    account = account_onboard(app=app, spotify_user_id="worker-user", display_name="W", refresh_token=user["refresh_token"])
    spotify_emulator.fault("token", status=500, times=1)
    worker = start_celery_worker(include=["tests.metrics.worker_tasks"])
    runs = [
        job_services.job_enqueue("account_refresh_token_one", trigger="api", args=[str(account.pk)]),
        job_services.job_enqueue("metrics_snapshot", trigger="admin"),
        job_services.job_enqueue("ops_test_count", trigger="admin", args=["playlists_created_total", 3]),
        job_services.job_enqueue("ops_test_count", trigger="admin", args=["reshuffles_total", 2]),
    ]
    _wait_for_runs(worker, [run.task_id for run in runs])
    assert not JobRun.objects.filter(status="failed").exists(), list(JobRun.objects.values("job_name", "error"))
    metrics = scrape(client_for(superuser))
    assert metrics[("spotify_requests_total", (("endpoint", "token"),))] == 2 == spotify_emulator.count("token")
    assert metrics[("spotify_retries_total", (("status", "500"),))] == 1
    assert metrics[("playlists_created_total", ())] == 3
    assert metrics[("reshuffles_total", ())] == 2
    assert metrics[("job_runs_total", (("job", "account_refresh_token_one"), ("status", "success")))] == 1
    assert metrics[("job_runs_total", (("job", "metrics_snapshot"), ("status", "success")))] == 1
    assert metrics[("job_duration_seconds_count", (("job", "metrics_snapshot"),))] == 1
    # Each pool process reports its memory after a task (MemoryUsageHigh's worker subject).
    assert metrics[("opsconsole_worker_memory_used_ratio", (("worker", worker.hostname),))] > 0


@pytest.mark.django_db
def test_a_scrape_with_redis_down_still_exports_the_database_metrics(settings, superuser: User) -> None:  # type: ignore[no-untyped-def]
    settings.REDIS_URL = "redis://127.0.0.1:1/0"
    metrics = scrape(client_for(superuser))
    assert metrics[("opsconsole_collector_errors", (("section", "counters"),))] == 1
    assert metrics[("opsconsole_collector_errors", (("section", "accounts"),))] == 0
    # Connections, disks and host memory need no Redis; the workers' memory does.
    assert metrics[("opsconsole_collector_errors", (("section", "resources"),))] == 0
    assert metrics[("opsconsole_collector_errors", (("section", "alerting_redis"),))] == 1
    assert ("opsconsole_db_connections_used_ratio", ()) in metrics
    assert ("account_health", (("status", "ok"),)) in metrics
    assert not any(name == "spotify_retries_total" for name, _ in metrics)
