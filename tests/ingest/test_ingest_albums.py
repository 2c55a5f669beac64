"""ingest_albums_from_sources through the emulator over real HTTP: calls, upserts, failures."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import pytest

from devstack.emulator import SpotifyEmulator
from ingest.models import Album, AlbumSource, Artist, Track
from ingest.services import audio_features_fetch, ingest_albums_from_sources
from tests.fixtures_catalog import extra_track_pages, track_count

pytestmark = pytest.mark.django_db

UNKNOWN_ALBUM = "0" * 22


def _api_calls(emu: SpotifyEmulator) -> dict[str, int]:
    return {k: v for k, v in emu.counts().items() if k != "token"}


def test_calls_are_several_albums_plus_extra_track_pages_plus_feature_batches(
    spotify_emulator: SpotifyEmulator,
    queue_albums: Callable[[list[str]], list[str]],
    django_capture_on_commit_callbacks: Callable,
    extended_app: Any,
) -> None:
    album_ids = queue_albums(spotify_emulator.catalog.album_ids()[:45])
    with django_capture_on_commit_callbacks() as callbacks:
        summary = ingest_albums_from_sources()
    assert summary["albums_done"] == 45
    assert len(callbacks) == 1, "one audio-features run queued for the new tracks"
    tracks = track_count(spotify_emulator, album_ids)
    assert summary["tracks_created"] == tracks == Track.objects.count()
    features = audio_features_fetch()
    pages = extra_track_pages(spotify_emulator, album_ids)
    assert pages > 0, "the sample includes albums longer than one page"
    assert _api_calls(spotify_emulator) == {
        "albums": math.ceil(45 / 20),
        "album_tracks": pages,
        "audio_features": math.ceil(tracks / 100),
    }
    assert features["calls"] == math.ceil(tracks / 100)
    assert set(AlbumSource.objects.values_list("status", flat=True)) == {"done"}
    assert Album.objects.count() == 45
    assert not AlbumSource.objects.filter(album__isnull=True).exists()


def test_rerun_is_a_no_op(spotify_emulator: SpotifyEmulator, queue_albums: Callable[[list[str]], list[str]]) -> None:
    queue_albums(spotify_emulator.catalog.album_ids()[:25])
    ingest_albums_from_sources()
    audio_features_fetch()
    counts = (Artist.objects.count(), Album.objects.count(), Track.objects.count())
    spotify_emulator.reset_counts()
    summary = ingest_albums_from_sources()
    features = audio_features_fetch()
    assert summary["claimed"] == 0 and features["calls"] == 0
    assert _api_calls(spotify_emulator) == {}
    assert (Artist.objects.count(), Album.objects.count(), Track.objects.count()) == counts


def test_reingesting_an_album_updates_rows_and_keeps_features(
    spotify_emulator: SpotifyEmulator, queue_albums: Callable[[list[str]], list[str]], extended_app: Any
) -> None:
    album_id = spotify_emulator.catalog.album_ids()[0]
    queue_albums([album_id])
    ingest_albums_from_sources()
    audio_features_fetch()
    with_features = Track.objects.filter(features_fetched_at__isnull=False).count()
    assert with_features > 0
    AlbumSource.objects.all().delete()
    queue_albums([album_id])
    summary = ingest_albums_from_sources()
    assert summary["tracks_created"] == 0 and summary["tracks_updated"] == Track.objects.count()
    assert Track.objects.filter(features_fetched_at__isnull=False).count() == with_features


def test_unknown_album_fails_with_reason_and_the_batch_goes_on(
    spotify_emulator: SpotifyEmulator, queue_albums: Callable[[list[str]], list[str]]
) -> None:
    known = spotify_emulator.catalog.album_ids()[:3]
    queue_albums([known[0], UNKNOWN_ALBUM, *known[1:]])
    summary = ingest_albums_from_sources()
    assert summary["albums_done"] == 3 and summary["failed"] == 1
    failed = AlbumSource.objects.get(spotify_album_id=UNKNOWN_ALBUM)
    assert failed.status == "failed"
    assert "not found" in failed.last_error
    assert spotify_emulator.count("albums") == 1


def test_development_mode_app_falls_back_to_single_album_calls(
    spotify_emulator: SpotifyEmulator, queue_albums: Callable[[list[str]], list[str]], settings
) -> None:
    spotify_emulator.set_app_mode(settings.SPOTIFY_CLIENT_ID, "development")
    album_ids = queue_albums(spotify_emulator.catalog.album_ids()[:5])
    summary = ingest_albums_from_sources()
    assert summary["albums_done"] == 5
    assert spotify_emulator.count("album") == 5
    assert spotify_emulator.count("albums") == 1, "one 403 teaches it; later calls go single"
    assert Track.objects.count() == track_count(spotify_emulator, album_ids)
    queue_albums(spotify_emulator.catalog.album_ids()[5:7])
    assert ingest_albums_from_sources()["albums_done"] == 2
    assert spotify_emulator.count("albums") == 1, "the lesson is kept on the app for later runs"
    features = audio_features_fetch()
    assert features["stored"] == 0 and "refused" in features["skipped"]
    spotify_emulator.reset_counts()
    assert audio_features_fetch()["calls"] == 0
    assert spotify_emulator.count("audio_features") == 0, "a refused app is not asked again"
