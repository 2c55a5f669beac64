from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

import pytest

from accounts.models import SpotifyAccount, SpotifyApp
from ingest.models import Album, Artist, Track
from tests.factories import spotify_id

_catalog_counter = iter(range(10**9))


def make_catalog(*, artists: int, tracks_per_artist: int | list[int], features: Callable[[random.Random], Any] | None = None,
                 label: str = "Factory Records", seed: int = 0) -> list[Track]:
    """Bulk-create a small catalog: one album per artist; `features(rng)` gives each track's features."""
    rng = random.Random(seed)
    batch = next(_catalog_counter)
    artist_rows = Artist.objects.bulk_create(
        Artist(spotify_id=spotify_id(f"ca{batch}x", n), name=f"Artist {batch}-{n}") for n in range(artists)
    )
    album_rows = Album.objects.bulk_create(
        Album(spotify_id=spotify_id(f"cb{batch}x", n), name=f"Album {batch}-{n}", label=label, artist=a)
        for n, a in enumerate(artist_rows)
    )
    counts = tracks_per_artist if isinstance(tracks_per_artist, list) else [tracks_per_artist] * artists
    tracks = []
    n = 0
    for album, count in zip(album_rows, counts, strict=True):
        for _ in range(count):
            tracks.append(Track(spotify_id=spotify_id(f"ct{batch}x", n), name=f"Track {n}", album=album,
                                artist_id=album.artist_id, audio_features=features(rng) if features else None))
            n += 1
    return Track.objects.bulk_create(tracks)



@pytest.fixture
def offline_account(spotify_app: SpotifyApp) -> SpotifyAccount:
    """An account row for tests that never reach Spotify (the sampler)."""
    return SpotifyAccount.objects.create(app=spotify_app, display_name="Offline", spotify_user_id="offline-user")
