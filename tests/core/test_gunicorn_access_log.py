"""The web server's access log never carries a query string (the OAuth callback's code and state)."""

from __future__ import annotations

import urllib.error
import urllib.request
from pathlib import Path

import yaml

from devstack.runtime import BASE_DIR
from tests.fixtures_web import gunicorn_serving


def test_access_log_names_the_path_without_the_query_string(tmp_path: Path, transactional_db: None) -> None:
    log = tmp_path / "web.log"
    with gunicorn_serving(log) as (port, _):
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/oauth/spotify/callback?code=SECRET-CODE&state=SECRET-STATE")
        except urllib.error.HTTPError as refused:
            assert refused.code == 400  # an unknown state: a plain page, nothing changed
    written = log.read_text()
    assert "GET /oauth/spotify/callback HTTP/1.1" in written
    assert "SECRET" not in written


def test_every_gunicorn_command_uses_the_shared_configuration() -> None:
    compose = yaml.safe_load((BASE_DIR / "docker-compose.yml").read_text())
    assert "python:opsconsole.gunicorn_conf" in compose["services"]["web"]["command"]
    assert "python:opsconsole.gunicorn_conf" in (BASE_DIR / "Dockerfile").read_text()
    assert "python:opsconsole.gunicorn_conf" in (BASE_DIR / "devstack" / "processes.py").read_text()
