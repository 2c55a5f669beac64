"""`make demo` as a child of a test: its entry point in a var dir, database, Redis key prefix and
ports of its own, so it never meets a developer's demo or the test database."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO
from urllib.parse import urlsplit, urlunsplit

import psycopg
from django.conf import settings

from devstack.runtime import BASE_DIR, _free_port, _read_env_file

BOOT_SECONDS = 300
RULE = "-" * 78


def _server() -> dict[str, object]:
    params = settings.DATABASES["default"]
    return {
        "host": params["HOST"],
        "port": params["PORT"] or None,
        "user": params["USER"],
        "password": params["PASSWORD"] or None,
    }


@contextmanager
def demo_database() -> Iterator[str]:
    """A database of its own on the tests' PostgreSQL server, dropped afterwards."""
    name = f"opsconsole_demo_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(dbname="postgres", autocommit=True, **_server()) as connection:  # type: ignore[arg-type]
        connection.execute(f'CREATE DATABASE "{name}"')
    url = urlsplit(os.environ["DATABASE_URL"])
    try:
        yield urlunsplit(url._replace(path=f"/{name}"))
    finally:
        with psycopg.connect(dbname="postgres", autocommit=True, **_server()) as connection:  # type: ignore[arg-type]
            connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


class Output:
    """The demo's stdout as it arrives (read on a thread, so waiting never blocks on a pipe)."""

    def __init__(self, process: subprocess.Popen[bytes]) -> None:
        self.chunks: list[str] = []
        assert process.stdout is not None
        self._thread = threading.Thread(target=self._read, args=(process.stdout,), daemon=True)
        self._thread.start()

    def _read(self, stream: IO[bytes]) -> None:
        for line in iter(stream.readline, b""):
            self.chunks.append(line.decode(errors="replace"))

    @property
    def text(self) -> str:
        return "".join(self.chunks)

    def finish(self) -> str:
        self._thread.join(timeout=30)
        return self.text


@dataclass
class Demo:
    process: subprocess.Popen[bytes]
    output: Output
    port: int
    emulator_port: int
    env: dict[str, str]
    var_dir: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def emulator_url(self) -> str:
        return f"http://127.0.0.1:{self.emulator_port}"

    def wait_for_banner(self) -> str:
        deadline = time.monotonic() + BOOT_SECONDS
        while time.monotonic() < deadline and self.process.poll() is None:
            text = self.output.text
            if "opsconsole is running" in text and text.rstrip().endswith(RULE):
                return text
            time.sleep(0.5)
        raise AssertionError(f"no banner (exit {self.process.poll()}):\n{self.output.text}")

    def manage(self, *args: str) -> str:
        """A management command against the demo's database and Redis, as its operator runs one."""
        local = _read_env_file(self.var_dir / "local.env")
        result = subprocess.run(
            [sys.executable, "manage.py", *args],
            cwd=BASE_DIR,
            env={**self.env, **local},
            capture_output=True,
            text=True,
            timeout=120,
            check=True,
        )
        return result.stdout

    def stop(self) -> str:
        """Ctrl-C as a terminal sends it; the whole output once the demo has gone."""
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGINT)
        try:
            self.process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()
        return self.output.finish()


def start_demo(var_dir: Path, database_url: str, **extra_env: str) -> Demo:
    port, emulator_port = _free_port(), _free_port()
    run = uuid.uuid4().hex[:8]
    env = {
        **os.environ,
        "OPSCONSOLE_VAR_DIR": str(var_dir),
        "DATABASE_URL": database_url,
        "REDIS_KEY_PREFIX": f"opsconsole-demo-test-{run}",
        "CELERY_BROKER_KEY_PREFIX": f"opsconsole-demo-test-{run}:celery:",
        "PORT": str(port),
        "EMULATOR_PORT": str(emulator_port),
        "DJANGO_SUPERUSER_PASSWORD": "demo-pw-123!",
        "PYTHONUNBUFFERED": "1",
    }
    for name in ("SPOTIFY_API_URL", "SPOTIFY_ACCOUNTS_URL", "SPOTIFY_REDIRECT_URI", "EMAIL_URL"):
        env.pop(name, None)
    env.update(extra_env)
    process = subprocess.Popen(
        [sys.executable, "-m", "devstack.demo"],
        cwd=BASE_DIR,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        start_new_session=True,
    )
    return Demo(process, Output(process), port, emulator_port, env, var_dir)
