"""A real Celery worker in a subprocess, for tests about workers.

`celery_worker_process` starts `celery -A opsconsole worker` against the pytest-django test
database (hence `transactional_db`: the worker only sees committed rows) and the same
Redis / key prefix / broker prefix as the test process, waits until it answers a ping, and
stops it (warm shutdown, then kill) after the test. `start_celery_worker(...)` starts one
with other options (pool, queues, extra task modules); `start_celery_beat()` starts beat the
same way. Registered from tests/conftest.py.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from django.conf import settings
from django.db import connection

BASE_DIR = Path(__file__).resolve().parent.parent
STARTUP_TIMEOUT_SECONDS = 60.0


def database_url_for_tests() -> str:
    """DATABASE_URL of the database this test process is using (the test DB)."""
    db = connection.settings_dict
    user = quote(db.get("USER") or "", safe="")
    password = f":{quote(db['PASSWORD'], safe='')}" if db.get("PASSWORD") else ""
    host = db.get("HOST") or ""
    port = f":{db['PORT']}" if db.get("PORT") else ""
    if host.startswith("/"):  # Unix socket (the embedded PostgreSQL)
        return f"postgres://{user}{password}@/{db['NAME']}?host={quote(host)}"
    return f"postgres://{user}{password}@{host}{port}/{db['NAME']}"


@dataclass
class CeleryWorkerProcess:
    hostname: str
    process: subprocess.Popen[bytes]
    log_path: Path
    queues: list[str] = field(default_factory=list)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def ping(self, timeout: float = 1.0) -> bool:
        from opsconsole.celery import app

        replies = app.control.ping(destination=[self.hostname], timeout=timeout) or []
        return any(self.hostname in reply for reply in replies)

    def wait_until(self, predicate: Callable[[], Any], *, timeout: float = 30.0, interval: float = 0.2) -> Any:
        """Poll `predicate` until it returns something truthy; fail with the worker log otherwise."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            value = predicate()
            if value:
                return value
            if self.process.poll() is not None:
                raise AssertionError(f"worker exited with {self.process.returncode}:\n{self.log()[-4000:]}")
            time.sleep(interval)
        raise AssertionError(f"condition not met within {timeout} s; worker log:\n{self.log()[-4000:]}")

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)  # warm shutdown of our own process group
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=5)


def _start(
    *,
    pool: str = "threads",
    concurrency: int = 2,
    queues: list[str] | None = None,
    include: list[str] | None = None,
    extra_env: dict[str, str] | None = None,
) -> CeleryWorkerProcess:
    queues = queues or [settings.CELERY_TASK_DEFAULT_QUEUE]
    hostname = f"opstest-{uuid.uuid4().hex[:8]}@localhost"
    env = _process_env(extra_env)
    command = [
        sys.executable, "-m", "celery", "-A", "opsconsole", "worker",
        "--hostname", hostname, f"--pool={pool}", f"--concurrency={concurrency}",
        "--queues", ",".join(queues), "--without-gossip", "--without-mingle", "--loglevel=INFO",
    ]
    if include:
        command += ["--include", ",".join(include)]
    # Outlives this function: the worker writes to it until stop() closes it.
    log_file = tempfile.NamedTemporaryFile(prefix="celery-worker-", suffix=".log", delete=False)  # noqa: SIM115
    process = subprocess.Popen(
        command, cwd=BASE_DIR, env=env, stdout=log_file, stderr=subprocess.STDOUT, start_new_session=True
    )
    worker = CeleryWorkerProcess(hostname=hostname, process=process, log_path=Path(log_file.name), queues=queues)
    try:
        worker.wait_until(worker.ping, timeout=STARTUP_TIMEOUT_SECONDS, interval=0.5)
    except BaseException:
        worker.stop()
        raise
    return worker


def _process_env(extra_env: dict[str, str] | None = None) -> dict[str, str]:
    """A worker's or beat's environment: this test's database, Redis, prefixes and Spotify."""
    return {
        **os.environ,
        "DATABASE_URL": database_url_for_tests(),
        "REDIS_URL": settings.REDIS_URL,
        "REDIS_KEY_PREFIX": settings.REDIS_KEY_PREFIX,
        "CELERY_BROKER_KEY_PREFIX": str(settings.CELERY_BROKER_TRANSPORT_OPTIONS.get("global_keyprefix", "")),
        # The worker must talk to whatever Spotify this test points at (the emulator).
        "SPOTIFY_API_URL": settings.SPOTIFY_API_URL,
        "SPOTIFY_ACCOUNTS_URL": settings.SPOTIFY_ACCOUNTS_URL,
        # Keep the worker's own DB connections short: the test DB is flushed after each test.
        "CONN_MAX_AGE": "0",
        "PYTHONUNBUFFERED": "1",
        **(extra_env or {}),
    }


@pytest.fixture
def start_celery_worker(transactional_db: None) -> Iterator[Callable[..., CeleryWorkerProcess]]:
    """Factory: start_celery_worker(pool="threads", concurrency=2, queues=[...], include=[...])."""
    started: list[CeleryWorkerProcess] = []

    def start(**options: Any) -> CeleryWorkerProcess:
        worker = _start(**options)
        started.append(worker)
        return worker

    yield start
    for worker in started:
        worker.stop()
        worker.log_path.unlink(missing_ok=True)


@pytest.fixture
def celery_worker_process(start_celery_worker: Callable[..., CeleryWorkerProcess]) -> CeleryWorkerProcess:
    """One worker (threads pool, 2 threads) consuming the default queue."""
    return start_celery_worker()


@pytest.fixture
def start_celery_beat(transactional_db: None, tmp_path: Path) -> Iterator[Callable[..., CeleryWorkerProcess]]:
    """Factory: start_celery_beat() starts `celery beat` with the project's scheduler (the
    database schedule, jobs.beat) and waits for its first heartbeat; stopped after the test."""
    started: list[CeleryWorkerProcess] = []

    def start(extra_env: dict[str, str] | None = None) -> CeleryWorkerProcess:
        from jobs.beat import beat_status

        log_path = tmp_path / f"beat-{len(started)}.log"
        command = [
            sys.executable, "-m", "celery", "-A", "opsconsole", "beat", "--loglevel=INFO",
            "--schedule", str(tmp_path / "beat-schedule"), "--pidfile", str(tmp_path / f"beat-{len(started)}.pid"),
        ]
        with open(log_path, "wb") as log:
            process = subprocess.Popen(
                command, cwd=BASE_DIR, env=_process_env(extra_env), stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        beat = CeleryWorkerProcess(hostname="beat", process=process, log_path=log_path)
        started.append(beat)
        beat.wait_until(lambda: beat_status()["source"] == "heartbeat", timeout=STARTUP_TIMEOUT_SECONDS, interval=0.5)
        return beat

    yield start
    for beat in started:
        beat.stop()
