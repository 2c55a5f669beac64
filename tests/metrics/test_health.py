from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.utils import timezone
from django_celery_beat.models import PeriodicTask

from alerts.conditions import no_workers
from alerts.grace import evaluator_started
from core.redis import get_redis, key
from jobs.beat import beat_heartbeat
from jobs.heartbeat import HEARTBEAT_MISSES, worker_heartbeat, workers_alive
from jobs.schedule import schedule_sync
from spotify.breaker import breaker_failure
from spotify.telemetry import telemetry_record
from tests.fixtures_clients import client_for, token_client

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("short_probe_timeouts")]

DETAIL_KEYS = {"status", "checks", "ingestion", "jobs"}


def _get(client: Client, path: str = "/health", **extra: str):  # type: ignore[no-untyped-def]
    return client.get(path, **extra)


@pytest.mark.parametrize("path", ["/health", "/api/health"])
def test_anonymous_sees_only_the_status(path: str) -> None:
    response = _get(Client(), path, REMOTE_ADDR="198.51.100.7")
    assert response.status_code == 200
    assert response.json() in ({"status": "ok"}, {"status": "degraded"})


def test_allowlisted_ip_sees_component_checks(settings) -> None:  # type: ignore[no-untyped-def]
    settings.HEALTH_ALLOWLIST = ["10.1.2.3"]
    body = _get(Client(), REMOTE_ADDR="10.1.2.3").json()
    assert set(body) >= DETAIL_KEYS
    assert set(body["checks"]) >= {"database", "redis", "broker", "scheduler", "workers"}
    assert body["checks"]["database"]["status"] == "ok"
    assert body["checks"]["redis"]["status"] == "ok"
    assert body["checks"]["broker"]["status"] == "ok"
    # No worker and no beat in this test: reported, and the overall status says so.
    assert body["checks"]["workers"]["status"] == "error"
    assert body["status"] == "degraded"
    assert _get(Client(), REMOTE_ADDR="10.1.2.4").json() == {"status": "degraded"}


def test_allowlisted_cidr_sees_telemetry(settings) -> None:  # type: ignore[no-untyped-def]
    settings.HEALTH_ALLOWLIST = ["10.1.0.0/16", "192.0.2.1"]
    assert set(_get(Client(), REMOTE_ADDR="10.1.77.8").json()) >= DETAIL_KEYS
    assert set(_get(Client(), REMOTE_ADDR="10.2.0.1").json()) == {"status"}


def test_staff_session_and_token_see_telemetry_others_do_not(viewer: User, nonstaff: User) -> None:
    assert set(_get(client_for(viewer)).json()) >= DETAIL_KEYS
    assert set(_get(token_client(viewer, "Bearer")).json()) >= DETAIL_KEYS
    assert set(_get(token_client(viewer, "Token")).json()) >= DETAIL_KEYS
    assert set(_get(client_for(nonstaff)).json()) == {"status"}
    # A bad token is just anonymous here: health never answers 401 to a probe.
    response = _get(Client(HTTP_AUTHORIZATION="Token not-a-real-token"))
    assert response.status_code == 200 and set(response.json()) == {"status"}


def test_spoofed_forwarded_for_does_not_pass_the_allowlist(settings) -> None:  # type: ignore[no-untyped-def]
    settings.HEALTH_ALLOWLIST = ["10.1.2.3"]
    settings.TRUSTED_PROXIES = []
    spoofed = _get(Client(), REMOTE_ADDR="198.51.100.7", HTTP_X_FORWARDED_FOR="10.1.2.3")
    assert set(spoofed.json()) == {"status"}
    # Through a trusted proxy the forwarded address counts...
    settings.TRUSTED_PROXIES = ["172.16.0.2"]
    proxied = _get(Client(), REMOTE_ADDR="172.16.0.2", HTTP_X_FORWARDED_FOR="10.1.2.3")
    assert set(proxied.json()) >= DETAIL_KEYS
    # ...but not an address the client prepended before the proxy appended the real one.
    chained = _get(Client(), REMOTE_ADDR="172.16.0.2", HTTP_X_FORWARDED_FOR="10.1.2.3, 198.51.100.7")
    assert set(chained.json()) == {"status"}


def test_open_circuit_and_last_error_make_health_degraded_with_details(settings, superuser: User) -> None:  # type: ignore[no-untyped-def]
    for _ in range(settings.BREAKER_FAILURE_THRESHOLD):
        breaker_failure("spotify.albums", error="SpotifyServerError: 503")
    telemetry_record(source="spotify", operation="audio_features", outcome="failed", error="SpotifyForbidden: 403")
    body = _get(client_for(superuser)).json()
    assert body["status"] == "degraded"
    albums = body["ingestion"]["sources"]["spotify.albums"]
    assert albums["circuit"] == "open"
    assert albums["cooldown_remaining_s"] > 0
    reasons = {(issue["source"], issue["operation"], issue["reason"]) for issue in body["ingestion"]["issues"]}
    assert ("spotify", "albums", "circuit_open") in reasons
    assert ("spotify", "audio_features", "last_error") in reasons
    last_error = next(i for i in body["ingestion"]["issues"] if i["reason"] == "last_error")
    assert "403" in last_error["last_error"]
    assert _get(Client()).json() == {"status": "degraded"}


def test_late_jobs_are_listed(superuser: User) -> None:
    schedule_sync()
    # Created two days ago and never run: every job's last slot has passed its grace period.
    PeriodicTask.objects.update(date_changed=timezone.now() - timedelta(days=2))
    body = _get(client_for(superuser)).json()
    late = {job["name"] for job in body["jobs"]["late"]}
    assert {"metrics_snapshot", "refresh_tokens"} <= late
    assert "late_jobs" in body["problems"]


def test_fresh_beat_heartbeat_makes_the_scheduler_check_pass(superuser: User) -> None:
    assert _get(client_for(superuser)).json()["checks"]["scheduler"]["status"] == "error"
    beat_heartbeat()
    assert _get(client_for(superuser)).json()["checks"]["scheduler"]["status"] == "ok"
    beat_heartbeat(at=timezone.now().timestamp() - 3600)
    assert _get(client_for(superuser)).json()["checks"]["scheduler"]["status"] == "error"


def test_redis_down_is_503_for_health_and_ready(settings, superuser: User) -> None:  # type: ignore[no-untyped-def]
    settings.REDIS_URL = "redis://127.0.0.1:1/0"  # nothing listens on port 1
    response = _get(Client())
    assert response.status_code == 503
    assert response.json() == {"status": "degraded"}
    detailed = _get(client_for(superuser))
    assert detailed.status_code == 503
    checks = detailed.json()["checks"]
    assert checks["redis"]["status"] == "error"
    # What reads the same Redis is not asked: one connect timeout per probe, not one per check.
    assert "not checked: Redis unreachable" in checks["workers"]["detail"]
    ready = Client().get("/ready")
    assert ready.status_code == 503
    assert any(reason.startswith("redis_unreachable") for reason in ready.json()["reasons"])


def test_ready_and_live_answer_when_dependencies_are_up() -> None:
    ready = Client().get("/ready")
    assert ready.status_code == 200, ready.json()
    assert ready.json() == {"status": "ready"}
    assert Client().get("/live").json() == {"status": "ok"}


def test_health_does_not_accept_writes() -> None:
    assert Client().post("/health").status_code == 405


def test_the_beat_scheduler_writes_the_heartbeat_on_every_tick(transactional_db: None) -> None:
    from jobs.beat import HeartbeatScheduler, beat_status
    from opsconsole.celery import app as celery_app

    assert beat_status()["healthy"] is False
    scheduler = HeartbeatScheduler(app=celery_app, lazy=False)
    scheduler.tick()
    status = beat_status()
    assert status["healthy"] is True
    assert status["source"] == "heartbeat"
    assert status["age_s"] < 60


def test_database_down_is_503_not_500(transactional_db: None, superuser: User, settings) -> None:  # type: ignore[no-untyped-def]
    from django.db import connections

    settings.HEALTH_ALLOWLIST = ["10.1.2.3"]
    logged_in = client_for(superuser)
    connection = connections["default"]
    connection.close()
    real_port = connection.settings_dict["PORT"]
    connection.settings_dict["PORT"] = "1"  # nothing listens there
    try:
        anonymous = Client().get("/health", REMOTE_ADDR="198.51.100.7")
        allowlisted = Client().get("/health", REMOTE_ADDR="10.1.2.3")
        ready = Client().get("/ready")
        # Its session cannot be read: treated as anonymous, still a 503 and not a 500.
        staff = logged_in.get("/health")
    finally:
        connection.close()
        connection.settings_dict["PORT"] = real_port
    assert anonymous.status_code == 503 and anonymous.json() == {"status": "degraded"}
    assert allowlisted.status_code == 503
    assert allowlisted.json()["checks"]["database"]["status"] == "error"
    assert ready.status_code == 503
    assert any(reason.startswith("database_unreachable") for reason in ready.json()["reasons"])
    assert staff.status_code == 503 and staff.json() == {"status": "degraded"}


# --- workers, from their heartbeats ---------------------------------------------------------

# Test workers beat every second: a killed one is gone after HEARTBEAT_MISSES of them.
HEARTBEAT_SECONDS = 1
POLL_SECONDS = 0.25


def _workers(client: Client) -> dict[str, list[str]]:
    body = client.get("/health").json()
    hostnames = {worker["hostname"]: worker["queues"] for worker in body["workers"]}
    assert (body["checks"]["workers"]["status"] == "ok") == bool(hostnames)
    return hostnames


def _polled_until(predicate: Callable[[], bool], *, seconds: float) -> bool:
    """`predicate` is true within `seconds`, asked at most seconds / POLL_SECONDS + 1 times."""
    for _ in range(round(seconds / POLL_SECONDS)):
        if predicate():
            return True
        time.sleep(POLL_SECONDS)
    return predicate()


def _heartbeat_worker(start_celery_worker: Callable[..., Any]) -> Any:
    return start_celery_worker(extra_env={"WORKER_HEARTBEAT_SECONDS": str(HEARTBEAT_SECONDS)})


@pytest.fixture
def old_evaluator() -> None:
    """NoWorkers as an evaluator past its startup grace sees it (alerts/grace.py)."""
    evaluator_started(at=0.0)


@pytest.mark.usefixtures("old_evaluator")
def test_a_heartbeat_makes_the_workers_check_pass_without_asking_any_worker(superuser: User) -> None:
    staff = client_for(superuser)
    assert _workers(staff) == {}
    assert [firing.subject for firing in no_workers({}, timezone.now())] == ["workers"]
    worker_heartbeat(hostname="w1@example", queues=["default", "ingest"])
    assert _workers(staff) == {"w1@example": ["default", "ingest"]}
    assert no_workers({}, timezone.now()) == []


def test_an_expired_heartbeat_leaves_the_index_too() -> None:
    worker_heartbeat(hostname="gone@example", queues=["default"])
    get_redis().delete(key("workers", "heartbeat", "gone@example"))  # what its expiry does
    assert workers_alive() == []
    assert not get_redis().sismember(key("workers", "heartbeats"), "gone@example")


@pytest.mark.slow
@pytest.mark.usefixtures("old_evaluator")
def test_a_running_worker_is_reported_with_its_queues_and_gone_after_a_warm_shutdown(
    start_celery_worker: Callable[..., Any], superuser: User
) -> None:
    worker = _heartbeat_worker(start_celery_worker)
    staff = client_for(superuser)
    assert _workers(staff) == {worker.hostname: ["default"]}
    assert no_workers({}, timezone.now()) == []

    worker.stop()  # SIGTERM: a warm shutdown deletes the heartbeat
    assert worker.process.returncode == 0
    assert _polled_until(lambda: _workers(staff) == {}, seconds=HEARTBEAT_SECONDS * HEARTBEAT_MISSES)
    assert [firing.subject for firing in no_workers({}, timezone.now())] == ["workers"]


@pytest.mark.slow
@pytest.mark.usefixtures("old_evaluator")
def test_a_killed_worker_is_reported_gone_once_its_heartbeat_expires(
    start_celery_worker: Callable[..., Any], superuser: User
) -> None:
    worker = _heartbeat_worker(start_celery_worker)
    staff = client_for(superuser)
    assert _polled_until(lambda: worker.hostname in _workers(staff), seconds=HEARTBEAT_SECONDS)

    os.killpg(worker.process.pid, signal.SIGKILL)  # nothing runs to delete the heartbeat
    worker.process.wait(timeout=10)
    # Still listed: only its expiry, within HEARTBEAT_MISSES intervals of its last beat, removes it.
    assert get_redis().ttl(key("workers", "heartbeat", worker.hostname)) > 0
    assert _polled_until(lambda: _workers(staff) == {}, seconds=HEARTBEAT_SECONDS * HEARTBEAT_MISSES)
    assert [firing.subject for firing in no_workers({}, timezone.now())] == ["workers"]
