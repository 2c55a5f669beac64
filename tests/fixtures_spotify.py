"""The `spotify_emulator` fixture: one emulator per test session, clean state per test;
`RecordingProvider`, a token provider on the emulator's token endpoint.

Registered from tests/conftest.py (`pytest_plugins`). The session server also exports
SPOTIFY_API_URL / SPOTIFY_ACCOUNTS_URL / SPOTIFY_EMULATOR_URL into os.environ so that
processes the tests start later (Celery workers, benchmarks) reach the same emulator.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest

from devstack.emulator import SpotifyEmulator
from spotify import request_client_credentials, request_token_refresh

EMULATOR_SEED = 42


@pytest.fixture(scope="session")
def spotify_emulator_server() -> Iterator[SpotifyEmulator]:
    emulator = SpotifyEmulator(seed=EMULATOR_SEED, port=0).start()
    saved = {name: os.environ.get(name) for name in ("SPOTIFY_API_URL", "SPOTIFY_ACCOUNTS_URL", "SPOTIFY_EMULATOR_URL")}
    os.environ["SPOTIFY_API_URL"] = emulator.api_url
    os.environ["SPOTIFY_ACCOUNTS_URL"] = emulator.accounts_url
    os.environ["SPOTIFY_EMULATOR_URL"] = emulator.url
    yield emulator
    for name, value in saved.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value
    emulator.stop()


@pytest.fixture
def spotify_emulator(spotify_emulator_server: SpotifyEmulator, settings: Any) -> Iterator[SpotifyEmulator]:
    """The emulator with no faults, counts, users or playlists; settings point at it."""
    spotify_emulator_server.reset()
    settings.SPOTIFY_API_URL = spotify_emulator_server.api_url
    settings.SPOTIFY_ACCOUNTS_URL = spotify_emulator_server.accounts_url
    yield spotify_emulator_server
    spotify_emulator_server.reset()


class RecordingProvider:
    """A token provider the way accounts glue does it (token endpoint on the emulator),
    remembering the force flags it was called with."""

    def __init__(self, *, client_id: str, refresh_token: str | None = None, access_token: str | None = None) -> None:
        self.client_id = client_id
        self.refresh_token = refresh_token
        self.access_token = access_token
        self.calls: list[bool] = []

    def __call__(self, force_refresh: bool) -> str:
        self.calls.append(force_refresh)
        if self.access_token and not force_refresh:
            return self.access_token
        if self.refresh_token:
            grant = request_token_refresh(client_id=self.client_id, client_secret="secret", refresh_token=self.refresh_token)
        else:
            grant = request_client_credentials(client_id=self.client_id, client_secret="secret")
        self.access_token = grant.access_token
        return grant.access_token
