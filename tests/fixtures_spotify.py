"""The `spotify_emulator` fixture: one emulator per test session, clean state per test.

Registered from tests/conftest.py (`pytest_plugins`). The session server also exports
SPOTIFY_API_URL / SPOTIFY_ACCOUNTS_URL / SPOTIFY_EMULATOR_URL into os.environ so that
processes the tests start later (Celery workers, benchmarks) reach the same emulator.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest

from opsconsole.spotify.emulator import SpotifyEmulator

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
