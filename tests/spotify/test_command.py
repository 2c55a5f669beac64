"""`manage.py run_spotify_emulator` serves in its own process, as the demo runs it."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
import requests
from django.core.management import CommandError, call_command

from devstack.emulator import EmulatorRemote
from tests.fixtures_celery import BASE_DIR


def test_the_command_serves_the_emulator_with_its_options() -> None:
    process = subprocess.Popen(
        [sys.executable, "manage.py", "run_spotify_emulator", "--port", "0", "--seed", "7", "--development-app", "dev"],
        cwd=BASE_DIR,
        env=dict(os.environ),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        first_line = process.stdout.readline()
        assert "Spotify emulator on http://127.0.0.1:" in first_line, process.stderr.read() if process.stderr else ""
        url = first_line.split(" on ", 1)[1].split(" ", 1)[0]
        remote = EmulatorRemote(url)
        token = requests.post(
            f"{remote.accounts_url}api/token", data={"grant_type": "client_credentials"}, auth=("dev", "s"), timeout=5
        ).json()["access_token"]
        album_id = remote.album_ids()[0]
        refused = requests.get(
            f"{remote.api_url}albums", params={"ids": album_id}, headers={"Authorization": f"Bearer {token}"}, timeout=5
        )
        assert refused.status_code == 403  # --development-app
        assert remote.counts() == {"token": 1, "albums": 1}
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_the_command_refuses_a_non_loopback_host() -> None:
    with pytest.raises(CommandError):
        call_command("run_spotify_emulator", "--host", "0.0.0.0", "--port", "0")
