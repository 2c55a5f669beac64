"""A Spotify id, ISRC or playlist id pasted into an admin search box is looked up through its
index (ingest.selectors.tracks_matching, the mixins in ingest/admin.py and playlists/admin.py):
the plan of the changelist's own queryset, with sequential scans priced out so only an index
that can serve the condition is taken, names the searched column in an Index Cond."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from django.db import connection
from django.db.models import QuerySet

from bench.fleet import FleetSizes, fleet_populate
from ingest.models import Album, Artist, Track
from playlists.models import Playlist
from tests.fixtures_clients import client_for

pytestmark = pytest.mark.django_db

ROWS = 40


@pytest.fixture
def fleet() -> None:
    fleet_populate(sizes=FleetSizes.uniform(ROWS))


def _plan(queryset: QuerySet) -> str:
    sql, params = queryset.query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute(f"EXPLAIN {sql}", params)
        plan = "\n".join(row[0] for row in cursor.fetchall())
        cursor.execute("SET LOCAL enable_seqscan = on")
    return plan


def _search(user: User, changelist: str, term: str) -> QuerySet:
    response = client_for(user).get(f"/admin/{changelist}/", {"q": term})
    assert response.status_code == 200
    return response.context["cl"].queryset


@pytest.mark.usefixtures("fleet")
def test_pasted_ids_are_found_through_their_index(superuser: User) -> None:
    track = Track.objects.order_by("pk")[ROWS // 2]
    playlist = Playlist.objects.order_by("pk")[ROWS // 2]
    artist, album = Artist.objects.order_by("pk").last(), Album.objects.order_by("pk").last()
    cases = [
        ("ingest/track", track.spotify_id, "spotify_id", [track]),
        ("ingest/track", track.isrc.lower(), "isrc", list(Track.objects.filter(isrc=track.isrc))),
        ("ingest/artist", artist.spotify_id, "spotify_id", [artist]),
        ("ingest/album", album.spotify_id, "spotify_id", [album]),
        ("playlists/playlist", playlist.spotify_playlist_id, "spotify_playlist_id", [playlist]),
        ("playlists/playlist", str(playlist.pk), "id", [playlist]),
    ]
    for changelist, term, column, expected in cases:
        queryset = _search(superuser, changelist, term)
        assert sorted(queryset, key=lambda row: row.pk) == sorted(expected, key=lambda row: row.pk), (changelist, term)
        plan = _plan(queryset)
        assert f"Index Cond: (({column})" in plan or f"Index Cond: ({column} =" in plan, (changelist, term, plan)


@pytest.mark.usefixtures("fleet")
def test_a_name_is_searched_by_name_through_its_trigram_index_and_an_isrc_shaped_name_too(superuser: User) -> None:
    track = Track.objects.order_by("pk")[5]
    word = track.name.split()[0]
    by_name = _search(superuser, "ingest/track", word)
    assert track in by_name and all(word.lower() in row.name.lower() for row in by_name)
    # Django's case-insensitive match, served by the trigram index on UPPER(name).
    assert "Index Cond: (upper((name)::text) ~~" in _plan(by_name)
    Track.objects.filter(pk=track.pk).update(name="ZZ999 Demo 0000001 ZZABC1234567")
    assert list(_search(superuser, "ingest/track", "ZZABC1234567")) == [Track.objects.get(pk=track.pk)]
