"""factory_boy factories shared by the test suite (each app adds its own section), and
`make_catalog`, which bulk-creates a whole catalog at once."""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

import factory

from accounts.models import SpotifyAccount
from accounts.services import app_get_or_create_default
from ingest.models import Album, Artist, Track
from playlists.models import Playlist, PlaylistPolicy

# --- Catalog (playlists section: tracks made directly, without ingest) -------------------


def spotify_id(prefix: str, n: int) -> str:
    """A valid 22-character base62 Spotify id, unique per prefix and n."""
    return f"{prefix}{n:0{22 - len(prefix)}d}"


class ArtistFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Artist

    spotify_id = factory.Sequence(lambda n: spotify_id("fa", n))
    name = factory.Sequence(lambda n: f"Artist {n}")


class AlbumFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Album

    spotify_id = factory.Sequence(lambda n: spotify_id("fb", n))
    name = factory.Sequence(lambda n: f"Album {n}")
    label = "Factory Records"
    artist = factory.SubFactory(ArtistFactory)


class TrackFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Track

    spotify_id = factory.Sequence(lambda n: spotify_id("ft", n))
    name = factory.Sequence(lambda n: f"Track {n}")
    album = factory.SubFactory(AlbumFactory)
    artist = factory.SelfAttribute("album.artist")
    audio_features = None


_catalog_counter = iter(range(10**9))


def make_catalog(
    *,
    artists: int,
    tracks_per_artist: int | list[int],
    features: Callable[[random.Random], Any] | None = None,
    label: str = "Factory Records",
    seed: int = 0,
) -> list[Track]:
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
            tracks.append(
                Track(
                    spotify_id=spotify_id(f"ct{batch}x", n),
                    name=f"Track {n}",
                    album=album,
                    artist_id=album.artist_id,
                    audio_features=features(rng) if features else None,
                )
            )
            n += 1
    return Track.objects.bulk_create(tracks)


# --- Accounts --------------------------------------------------------------------------------


class SpotifyAccountFactory(factory.django.DjangoModelFactory):
    """An account row without a user on the emulator (tests that never call Spotify for it;
    `make_account` in conftest makes one that can)."""

    class Meta:
        model = SpotifyAccount

    app = factory.LazyFunction(app_get_or_create_default)
    display_name = factory.Sequence(lambda n: f"Account {n:03d}")
    spotify_user_id = factory.Sequence(lambda n: f"factory-user-{n:05d}")


# --- Playlists -------------------------------------------------------------------------------


class PlaylistPolicyFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = PlaylistPolicy

    name = factory.Sequence(lambda n: f"Policy {n}")


class PlaylistFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Playlist

    policy = factory.SubFactory(PlaylistPolicyFactory)
    index = factory.Sequence(lambda n: n + 1)


# --- Job runs ------------------------------------------------------------------------------


def record_job_run(job_name: str, seconds: float, *, finished_at: Any, status: str = "success") -> Any:
    """One JobRun written by the services the worker's signals call (jobs.signals), the clock held
    so that it lasts exactly `seconds`; status "running" leaves it started only."""
    import uuid
    from datetime import timedelta

    import time_machine

    from jobs.models import JobRun
    from jobs.services import job_run_finished, job_run_started

    task_id = str(uuid.uuid4())
    with time_machine.travel(finished_at - timedelta(seconds=seconds), tick=False) as clock:
        job_run_started(
            task_id=task_id, task_name=job_name, args=[], kwargs={}, trigger="", triggered_by="", correlation_id="", worker="w"
        )
        if status != "running":
            clock.move_to(finished_at)
            job_run_finished(task_id=task_id, status=status)
    return JobRun.objects.get(task_id=task_id)
