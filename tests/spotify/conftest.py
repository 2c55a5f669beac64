from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from devstack.emulator import SpotifyEmulator
from spotify import SpotifyClient
from spotify.connectors import connector_settings_seed
from tests.fixtures_spotify import RecordingProvider


@pytest.fixture
def catalog_client(spotify_emulator: SpotifyEmulator) -> SpotifyClient:
    """Client-credentials client of app "a1" (catalog reads)."""
    return SpotifyClient(app_key="a1", token_provider=RecordingProvider(client_id="a1"))


@pytest.fixture
def make_user_client(
    spotify_emulator: SpotifyEmulator,
) -> Callable[..., tuple[SpotifyClient, RecordingProvider, dict[str, Any]]]:
    def make(
        user_id: str = "alice", *, client_id: str = "a1", **kwargs: Any
    ) -> tuple[SpotifyClient, RecordingProvider, dict[str, Any]]:
        user = spotify_emulator.create_user(user_id, client_id=client_id)
        provider = RecordingProvider(
            client_id=client_id, refresh_token=user["refresh_token"], access_token=user["access_token"]
        )
        client = SpotifyClient(app_key=client_id, account_key=user_id, token_provider=provider, **kwargs)
        return client, provider, user

    return make


@pytest.fixture
def connector_rows(db: None) -> None:
    """The rows migration 0004 creates (a transactional test elsewhere may have flushed them)."""
    connector_settings_seed()
