"""A real gunicorn on loopback with the project's configuration, for the tests that need the web
server's own process (its access log, what it records at boot)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from devstack.runtime import BASE_DIR, _free_port
from tests.fixtures_celery import database_url_for_tests


@contextmanager
def gunicorn_serving(log: Path, *, workers: int = 1, env: dict[str, str] | None = None) -> Iterator[tuple[int, subprocess.Popen[bytes]]]:
    """(port, process) once /live answers; its output goes to `log`; stopped on the way out."""
    port = _free_port()
    with log.open("w") as out:
        server = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "opsconsole.wsgi:application", "--config", "python:opsconsole.gunicorn_conf"]
            + ["--bind", f"127.0.0.1:{port}", "--workers", str(workers)],
            cwd=BASE_DIR,
            env={**os.environ, "DATABASE_URL": database_url_for_tests(), **(env or {})},
            stdout=out,
            stderr=subprocess.STDOUT,
        )
        try:
            deadline = time.monotonic() + 60
            while True:
                try:
                    urllib.request.urlopen(f"http://127.0.0.1:{port}/live", timeout=2)
                    break
                except OSError:  # refused, reset or timed out while the workers boot
                    assert server.poll() is None and time.monotonic() < deadline, log.read_text()
                    time.sleep(0.2)
            yield port, server
        finally:
            server.terminate()
            server.wait(timeout=30)
