"""factory_boy factories shared by the test suite (each app adds its own section)."""

from __future__ import annotations

import factory

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
