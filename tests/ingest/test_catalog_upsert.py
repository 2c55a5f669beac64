"""The catalog upsert scores new tracks in its INSERT: the scores must be the quality UPDATE's."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from devstack.emulator import SpotifyEmulator
from ingest.models import Album, AlbumSource, Track
from ingest.quality import tracks_quality_update
from ingest.services import audio_features_fetch, ingest_albums_from_sources
from tests.factories import TrackFactory

pytestmark = pytest.mark.django_db


def _scores() -> dict[str, tuple[Any, ...]]:
    return {
        sid: (score, tier, tuple(issues))
        for sid, score, tier, issues in Track.objects.values_list("spotify_id", "quality_score", "quality_tier", "quality_issues")
    }


def test_new_tracks_are_scored_as_the_quality_update_scores_them(
    spotify_emulator: SpotifyEmulator, queue_albums: Callable[[list[str]], list[str]]
) -> None:
    queue_albums(spotify_emulator.catalog.album_ids()[:30])
    summary = ingest_albums_from_sources()
    assert summary["tracks_created"] == Track.objects.count() > 0
    scored = _scores()
    assert all(tier for _, tier, _ in scored.values())
    # Recomputing every track changes nothing: the INSERT wrote what the UPDATE would.
    assert tracks_quality_update(album_ids=list(Album.objects.values_list("pk", flat=True))) == 0
    assert _scores() == scored


def test_a_reingested_album_is_rescored_from_its_current_rows(
    spotify_emulator: SpotifyEmulator, queue_albums: Callable[[list[str]], list[str]], extended_app: Any
) -> None:
    album_id = spotify_emulator.catalog.album_ids()[0]
    queue_albums([album_id])
    ingest_albums_from_sources()
    audio_features_fetch()
    with_features = _scores()
    # Scores wiped and the label changed locally: re-ingesting restores the label and rescores.
    Album.objects.filter(spotify_id=album_id).update(label="")
    Track.objects.update(quality_score=None, quality_tier="", quality_issues=[])
    AlbumSource.objects.all().delete()
    queue_albums([album_id])
    assert ingest_albums_from_sources()["tracks_updated"] == len(with_features)
    assert _scores() == with_features
    assert tracks_quality_update(album_ids=list(Album.objects.values_list("pk", flat=True))) == 0


def test_the_track_table_has_no_pattern_index_and_spotify_id_stays_unique() -> None:
    from django.db import IntegrityError, connection, transaction

    with connection.cursor() as cursor:
        cursor.execute("SELECT indexdef FROM pg_indexes WHERE tablename = 'ingest_track'")
        definitions = [row[0] for row in cursor.fetchall()]
    assert not [d for d in definitions if "pattern_ops" in d]
    assert any("UNIQUE" in d and "(spotify_id)" in d for d in definitions)
    assert any("(isrc)" in d for d in definitions)
    track = TrackFactory()
    with pytest.raises(IntegrityError), transaction.atomic():
        TrackFactory(spotify_id=track.spotify_id)
