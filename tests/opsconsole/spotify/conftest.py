from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from opsconsole.spotify import SpotifyClient, request_client_credentials, request_token_refresh
from opsconsole.spotify.connectors import connector_settings_seed
from opsconsole.spotify.emulator import SpotifyEmulator
from tests.ingest.conftest import queue_albums  # noqa: F401


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
            grant = request_token_refresh(
                client_id=self.client_id, client_secret="secret", refresh_token=self.refresh_token
            )
        else:
            grant = request_client_credentials(client_id=self.client_id, client_secret="secret")
        self.access_token = grant.access_token
        return grant.access_token


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
