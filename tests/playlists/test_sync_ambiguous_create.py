"""A create that times out may have happened: no blind retry, the task's retry adopts it."""

from __future__ import annotations

import time
from typing import Any

import pytest

from playlists import services
from playlists.models import Playlist
from spotify import SpotifyServerError
from spotify.connectors import connector_cache_invalidate, connector_settings_seed
from spotify.models import ConnectorSetting
from tests.factories import PlaylistFactory, PlaylistPolicyFactory, make_catalog

pytestmark = pytest.mark.django_db


def _playlists_timeout(seconds: float) -> None:
    """The per-operation timeout operators set (connector settings) is the one the client uses."""
    connector_settings_seed()
    ConnectorSetting.objects.filter(name="spotify.playlists").update(timeout_seconds=seconds)
    connector_cache_invalidate()


def test_a_timed_out_create_is_not_retried_and_the_next_sync_adopts_the_playlist(spotify_emulator: Any, make_account: Any) -> None:
    make_catalog(artists=30, tracks_per_artist=3)
    account = make_account("slowpoke")
    playlist = PlaylistFactory(account=account, policy=PlaylistPolicyFactory(name="Slow"), index=1)
    _playlists_timeout(0.5)
    # Spotify creates the playlist but answers too late for us.
    spotify_emulator.fault("create_playlist", status=None, latency=1.5, times=1)

    with pytest.raises(SpotifyServerError):
        services.playlist_sync(playlist=playlist, actor="test")
    assert spotify_emulator.count("create_playlist") == 1
    # The emulator finishes the create after its latency, as Spotify would have.
    for _ in range(50):
        if spotify_emulator.playlists_of("slowpoke"):
            break
        time.sleep(0.1)
    assert len(spotify_emulator.playlists_of("slowpoke")) == 1

    _playlists_timeout(10)
    playlist.refresh_from_db()
    services.playlist_sync(playlist=playlist, actor="test")

    playlist.refresh_from_db()
    [on_spotify] = spotify_emulator.playlists_of("slowpoke")
    assert playlist.spotify_playlist_id == on_spotify["id"]
    assert spotify_emulator.count("create_playlist") == 1
    assert playlist.sync_state == Playlist.SyncState.SYNCED


def test_a_5xx_on_create_is_not_retried_by_the_client(spotify_emulator: Any, make_account: Any) -> None:
    make_catalog(artists=30, tracks_per_artist=3)
    account = make_account("fivexx")
    playlist = PlaylistFactory(account=account, policy=PlaylistPolicyFactory(name="Five"), index=1)
    spotify_emulator.fault("create_playlist", status=502, times=1)

    with pytest.raises(SpotifyServerError):
        services.playlist_sync(playlist=playlist, actor="test")
    assert spotify_emulator.count("create_playlist") == 1

    services.playlist_sync(playlist=playlist, actor="test")
    assert len(spotify_emulator.playlists_of("fivexx")) == 1
