"""The web server's access log never carries a query string (the OAuth callback's code and state)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import yaml

from devstack.runtime import BASE_DIR, _free_port
from tests.fixtures_celery import database_url_for_tests


def test_access_log_names_the_path_without_the_query_string(tmp_path: Path, transactional_db: None) -> None:
    port = _free_port()
    log = tmp_path / "web.log"
    with log.open("w") as out:
        server = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "opsconsole.wsgi:application", "--config", "python:opsconsole.gunicorn_conf"]
            + ["--bind", f"127.0.0.1:{port}", "--workers", "1"],
            cwd=BASE_DIR,
            env={**os.environ, "DATABASE_URL": database_url_for_tests()},
            stdout=out,
            stderr=subprocess.STDOUT,
        )
        try:
            deadline = time.monotonic() + 60
            while True:
                try:
                    urllib.request.urlopen(f"http://127.0.0.1:{port}/live", timeout=2)
                    break
                except OSError:  # refused, reset or timed out while the worker boots
                    assert server.poll() is None and time.monotonic() < deadline, log.read_text()
                    time.sleep(0.2)
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/oauth/spotify/callback?code=SECRET-CODE&state=SECRET-STATE")
            except urllib.error.HTTPError as refused:
                assert refused.code == 400  # an unknown state: a plain page, nothing changed
        finally:
            server.terminate()
            server.wait(timeout=30)
    written = log.read_text()
    assert "GET /oauth/spotify/callback HTTP/1.1" in written
    assert "SECRET" not in written


def test_every_gunicorn_command_uses_the_shared_configuration() -> None:
    compose = yaml.safe_load((BASE_DIR / "docker-compose.yml").read_text())
    assert "python:opsconsole.gunicorn_conf" in compose["services"]["web"]["command"]
    assert "python:opsconsole.gunicorn_conf" in (BASE_DIR / "Dockerfile").read_text()
    assert "python:opsconsole.gunicorn_conf" in (BASE_DIR / "devstack" / "processes.py").read_text()
