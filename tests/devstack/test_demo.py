"""`make demo`'s entry point end to end: numbered boot steps, one banner and nothing after it,
each process's output in var/log/. It runs in a var dir, database, Redis key prefix and ports of
its own, so it never meets a developer's demo or the test database."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest
from django.conf import settings

from devstack.runtime import BASE_DIR, _free_port

pytestmark = pytest.mark.slow

BOOT_SECONDS = 300
RULE = "-" * 78


@pytest.fixture
def demo_database() -> Iterator[str]:
    """A database of its own on the tests' PostgreSQL server, dropped afterwards."""
    name = f"opsconsole_demo_{uuid.uuid4().hex[:8]}"
    params = settings.DATABASES["default"]
    admin = {
        "host": params["HOST"],
        "port": params["PORT"] or None,
        "user": params["USER"],
        "password": params["PASSWORD"] or None,
    }
    with psycopg.connect(dbname="postgres", autocommit=True, **admin) as connection:
        connection.execute(f'CREATE DATABASE "{name}"')
    url = urlsplit(os.environ["DATABASE_URL"])
    yield urlunsplit(url._replace(path=f"/{name}"))
    with psycopg.connect(dbname="postgres", autocommit=True, **admin) as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


class Output:
    """The demo's stdout as it arrives (read on a thread, so waiting never blocks on a pipe)."""

    def __init__(self, process: subprocess.Popen[bytes]) -> None:
        self.chunks: list[str] = []
        assert process.stdout is not None
        self._thread = threading.Thread(target=self._read, args=(process.stdout,), daemon=True)
        self._thread.start()

    def _read(self, stream: object) -> None:
        for line in iter(stream.readline, b""):  # type: ignore[attr-defined]
            self.chunks.append(line.decode(errors="replace"))

    @property
    def text(self) -> str:
        return "".join(self.chunks)

    def finish(self) -> str:
        self._thread.join(timeout=30)
        return self.text


def _wait_for_banner(process: subprocess.Popen[bytes], output: Output) -> str:
    deadline = time.monotonic() + BOOT_SECONDS
    while time.monotonic() < deadline and process.poll() is None:
        text = output.text
        if "opsconsole is running" in text and text.rstrip().endswith(RULE):
            return text
        time.sleep(0.5)
    raise AssertionError(f"no banner (exit {process.poll()}):\n{output.text}")


def test_make_demo_prints_numbered_steps_then_one_banner_and_logs_each_process_to_var_log(
    tmp_path: Path, demo_database: str
) -> None:
    port = _free_port()
    run = uuid.uuid4().hex[:8]
    env = {
        **os.environ,
        "OPSCONSOLE_VAR_DIR": str(tmp_path),
        "DATABASE_URL": demo_database,
        "REDIS_KEY_PREFIX": f"opsconsole-demo-test-{run}",
        "CELERY_BROKER_KEY_PREFIX": f"opsconsole-demo-test-{run}:celery:",
        "PORT": str(port),
        "EMULATOR_PORT": str(_free_port()),
        "DJANGO_SUPERUSER_PASSWORD": "demo-pw-123!",
        "PYTHONUNBUFFERED": "1",
    }
    for name in ("SPOTIFY_API_URL", "SPOTIFY_ACCOUNTS_URL", "SPOTIFY_REDIRECT_URI", "EMAIL_URL"):
        env.pop(name, None)
    process = subprocess.Popen(
        [sys.executable, "-m", "devstack.demo"],
        cwd=BASE_DIR,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        start_new_session=True,
    )
    output = Output(process)
    try:
        running = _wait_for_banner(process, output)
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=10) as response:
            health = response.status
        # Whatever the processes do meanwhile goes to their logs, never under the banner.
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/admin/login/", timeout=10) as response:
            assert response.status == 200
        before_stop = output.text
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGINT)
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    full = output.finish()

    assert health == 200
    assert process.returncode == 0, full
    steps = re.findall(r"^\[(\d)/8\] (.+?) \.\.\. ", running, flags=re.MULTILINE)
    assert [number for number, _ in steps] == [str(n) for n in range(1, 9)], running
    titles = " ".join(title for _, title in steps)
    for word in ("Install", "Database", "Migrations", "emulator", "Web", "worker", "beat", "First pipeline"):
        assert word in titles
    assert "failed" not in running and "problems" not in running, running
    assert "6/6 jobs (100%)" in running

    # One banner, and it is the last thing printed until the operator stops the demo.
    assert running.count("opsconsole is running") == 1
    assert before_stop == running
    banner = running[running.rindex(RULE, 0, running.rindex(RULE)) :]
    assert running.rstrip().endswith(banner.rstrip())
    for line in (
        f"http://127.0.0.1:{port}/admin/",
        "admin / demo-pw-123!",
        f"http://127.0.0.1:{port}/admin/metrics/metricsnapshot/dashboard/",
        f"http://127.0.0.1:{port}/api/docs/",
        "make demo-logs",
    ):
        assert line in banner
    assert re.search(rf"Connect a Spotify account\s+http://127\.0\.0\.1:{port}/admin/accounts/spotify\w+/", banner)
    after = full[len(running) :]
    assert after.strip() == "Stopping web, beat, the alert evaluator, worker and the emulator ...", after

    # The processes' own output is in var/log/<process>.log, not on the terminal.
    logs = tmp_path / "log"
    for name, evidence in {
        "web": "GET /health",
        "worker": "ready",
        "beat": "beat: Starting",
        "emulator": "",
        "alerts": "",
    }.items():
        text = (logs / f"{name}.log").read_text()
        assert evidence in text, (name, text[-500:])
    assert "Booting worker" in (logs / "web.log").read_text()
    assert '"logger": "celery.' in (logs / "worker.log").read_text()
    assert "Booting worker" not in full and '"logger"' not in full and "celery@" not in full
