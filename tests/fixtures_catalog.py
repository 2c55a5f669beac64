"""Albums on the emulator's catalog: how many tracks and extra track pages ingesting them
costs, and the `queue_albums` fixture that submits them as sources. Registered from
tests/conftest.py (`pytest_plugins`); catalogs made directly in the database come from
tests/factories.py."""

from __future__ import annotations

import math
from collections.abc import Callable

import pytest

from devstack.emulator import SpotifyEmulator
from ingest.services import album_sources_submit

ALBUM_TRACKS_PAGE = 50


def extra_track_pages(emu: SpotifyEmulator, album_ids: list[str]) -> int:
    """Album-tracks calls beyond the first page each album object embeds."""
    return sum(
        math.ceil((len(emu.catalog.album_track_ids(a)) - ALBUM_TRACKS_PAGE) / ALBUM_TRACKS_PAGE)
        for a in album_ids
        if len(emu.catalog.album_track_ids(a)) > ALBUM_TRACKS_PAGE
    )


def track_count(emu: SpotifyEmulator, album_ids: list[str]) -> int:
    return sum(len(emu.catalog.album_track_ids(a)) for a in album_ids)


@pytest.fixture
def queue_albums() -> Callable[[list[str]], list[str]]:
    def queue(album_ids: list[str]) -> list[str]:
        results = album_sources_submit(raw_inputs=[f"spotify:album:{a}" for a in album_ids], submitted_by="test")
        assert {r.status for r in results} == {"accepted"}
        return album_ids

    return queue
