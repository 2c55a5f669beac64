"""fetch_audio_features: ≤100 ids a call, null answers parked, a refusing app not asked again."""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import timedelta

import pytest
from django.utils import timezone

from accounts.services import app_get_or_create_default
from devstack.emulator import SpotifyEmulator
from ingest.models import DeadLetter, Track
from ingest.services import audio_features_fetch, ingest_albums_from_sources

# Audio features reach only extended apps registered before 27 Nov 2024 (see tests/fixtures_app_modes.py).
pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("extended_app")]


@pytest.fixture
def ingested(spotify_emulator: SpotifyEmulator, queue_albums: Callable[[list[str]], list[str]]) -> list[str]:
    album_ids = queue_albums(spotify_emulator.catalog.album_ids()[:20])
    ingest_albums_from_sources()
    spotify_emulator.reset_counts()
    return album_ids


def test_features_are_stored_readably_and_nulls_are_parked(
    spotify_emulator: SpotifyEmulator, ingested: list[str], settings
) -> None:
    total = Track.objects.count()
    summary = audio_features_fetch()
    assert spotify_emulator.count("audio_features") == math.ceil(total / 100) == summary["calls"]
    nulls = set(spotify_emulator.catalog.tracks_without_features()) & set(Track.objects.values_list("spotify_id", flat=True))
    assert nulls, "the sample has tracks Spotify has no features for"
    assert summary["unavailable"] == len(nulls) and summary["stored"] == total - len(nulls)
    track = Track.objects.exclude(spotify_id__in=nulls).first()
    assert track.audio_features == {
        k: v for k, v in spotify_emulator.catalog.features(track.spotify_id).items() if k not in ("id", "uri", "type")
    }
    parked = Track.objects.get(spotify_id=next(iter(nulls)))
    assert parked.features_fetched_at is None
    expected = timezone.now() + timedelta(days=settings.AUDIO_FEATURES_NULL_RETRY_DAYS)
    assert abs((parked.features_unavailable_until - expected).total_seconds()) < 60

    spotify_emulator.reset_counts()
    assert audio_features_fetch()["calls"] == 0, "null answers are not asked again every run"
    Track.objects.filter(spotify_id__in=nulls).update(features_unavailable_until=timezone.now() - timedelta(seconds=1))
    assert audio_features_fetch()["requested"] == len(nulls), "...but again after the interval"


def test_small_batches_still_respect_the_limit(spotify_emulator: SpotifyEmulator, ingested: list[str]) -> None:
    total = Track.objects.count()
    summary = audio_features_fetch(batch_size=500)
    assert summary["calls"] == math.ceil(total / 100)
    spotify_emulator.reset_counts()
    Track.objects.update(features_fetched_at=None, audio_features=None, features_unavailable_until=None)
    assert audio_features_fetch(batch_size=40)["calls"] == math.ceil(total / 40)


def test_a_403_records_the_capability_and_features_stay_optional(spotify_emulator: SpotifyEmulator, ingested: list[str]) -> None:
    spotify_emulator.set_audio_features_enabled(False)
    summary = audio_features_fetch()
    assert summary["stored"] == 0 and "refused" in summary["skipped"]
    assert app_get_or_create_default().capabilities["audio_features"] is False
    assert not DeadLetter.objects.exists(), "a capability is not a failure"
    assert audio_features_fetch()["calls"] == 0
    assert spotify_emulator.count("audio_features") == 1


def test_a_rate_limit_parks_the_run_with_the_retry_after(spotify_emulator: SpotifyEmulator, ingested: list[str]) -> None:
    spotify_emulator.fault("audio_features", status=429, retry_after=30, times=1)
    summary = audio_features_fetch()
    assert summary["retry_after"] >= 30 and summary["stored"] == 0 and summary["skipped"] == "api_rate_limit"
    assert not DeadLetter.objects.exists()
    assert not Track.objects.filter(features_unavailable_until__isnull=False).exists()


def test_server_errors_after_all_retries_dead_letter_the_batch(
    spotify_emulator: SpotifyEmulator, ingested: list[str], settings
) -> None:
    spotify_emulator.fault("audio_features", status=502, times=settings.SPOTIFY_MAX_ATTEMPTS)
    summary = audio_features_fetch()
    assert summary["skipped"] == "server_error"
    letter = DeadLetter.objects.get()
    assert letter.operation == "fetch_audio_features" and letter.error_type == "server_error"
    assert len(letter.payload["track_ids"]) == min(100, Track.objects.count())
