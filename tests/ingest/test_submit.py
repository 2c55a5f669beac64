"""Queuing album links through every door: service, API, admin form and command."""

from __future__ import annotations

from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.contrib.messages import get_messages
from django.core.management import CommandError, call_command
from django.test import Client
from django.urls import reverse

from core.actors import cli_actor
from devstack.emulator import SpotifyEmulator
from devstack.seed_ingest import demo_queue_sources
from ingest.models import AlbumSource
from ingest.parsing import album_id_parse
from ingest.services import album_sources_submit

pytestmark = pytest.mark.django_db

ID = "4aawyAB9vmqN3uQ7FjRGTy"
ID2 = "1DFixLWuPkv3KT3TnV35m3"


@pytest.mark.parametrize(
    "raw",
    [
        f"https://open.spotify.com/album/{ID}",
        f"https://open.spotify.com/album/{ID}?si=abc123&nd=1",
        f"https://open.spotify.com/intl-de/album/{ID}",
        f"https://open.spotify.com/intl-pt-br/album/{ID}/",
        f"open.spotify.com/album/{ID}#top",
        f"http://open.spotify.com/album/{ID}",
        f"  spotify:album:{ID}  ",
        ID,
    ],
)
def test_album_links_in_every_accepted_shape_parse_to_the_id(raw: str) -> None:
    assert album_id_parse(raw).album_id == ID


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("", "empty input"),
        (f"https://open.spotify.com/track/{ID}", "track link, not an album"),
        (f"spotify:playlist:{ID}", "playlist link, not an album"),
        (f"https://example.com/album/{ID}", "not an open.spotify.com link"),
        ("https://open.spotify.com/album/short", "not 22 base62 characters"),
        ("spotify:album:", "spotify:album:<22-character id>"),
        ("not a link at all", "not 22 base62 characters"),
        (f"ftp://open.spotify.com/album/{ID}", "unsupported URL scheme"),
    ],
)
def test_invalid_input_gets_a_clear_reason(raw: str, reason: str) -> None:
    parsed = album_id_parse(raw)
    assert not parsed.ok
    assert reason in parsed.reason


def test_submit_answers_per_input_and_keeps_invalid_input() -> None:
    results = album_sources_submit(
        raw_inputs=[f"spotify:album:{ID}", "nonsense", f"https://open.spotify.com/album/{ID}?si=x", ID2],
        submitted_by="test",
    )
    assert [r.status for r in results] == ["accepted", "invalid", "duplicate", "accepted"]
    assert results[2].reason == "repeated in this submission"
    again = album_sources_submit(raw_inputs=[ID], submitted_by="test")
    assert again[0].status == "duplicate" and again[0].reason == "already queued"
    assert again[0].source_id == results[0].source_id
    assert AlbumSource.objects.filter(status="queued").count() == 2
    invalid = AlbumSource.objects.get(status="invalid")
    assert invalid.raw_input == "nonsense" and "22 base62" in invalid.last_error


def test_api_answers_201_when_all_accepted_and_207_with_per_url_results(client: Client, operator: User) -> None:
    client.force_login(operator)
    created = client.post("/api/v1/ingest/albums", {"urls": [ID]}, content_type="application/json")
    assert created.status_code == 201
    assert created.json()["results"][0]["status"] == "accepted"
    mixed = client.post(
        "/api/v1/ingest/albums",
        {"urls": [ID, f"https://open.spotify.com/track/{ID2}", ID2]},
        content_type="application/json",
    )
    assert mixed.status_code == 207
    body = mixed.json()
    assert body["counts"] == {"accepted": 1, "duplicate": 1, "invalid": 1}
    assert body["results"][1] == {
        "input": f"https://open.spotify.com/track/{ID2}",
        "status": "invalid",
        "album_id": "",
        "reason": "this is a Spotify track link, not an album",
        "source_id": body["results"][1]["source_id"],
    }
    nothing_new = client.post("/api/v1/ingest/albums", {"urls": [ID]}, content_type="application/json")
    assert nothing_new.status_code == 200


@pytest.mark.parametrize(
    "payload",
    [{}, {"urls": []}, {"urls": "https://open.spotify.com/album/x"}, {"urls": [1, {"a": 2}]}, {"urls": [None]}],
)
def test_api_rejects_malformed_bodies_with_field_errors(client: Client, operator: User, payload: dict) -> None:
    client.force_login(operator)
    response = client.post("/api/v1/ingest/albums", payload, content_type="application/json")
    assert response.status_code == 400
    assert response.json()["detail"] == "Invalid input."
    assert "urls" in response.json()["errors"]


def test_api_rejects_non_json_garbage_without_a_500(client: Client, operator: User) -> None:
    client.force_login(operator)
    response = client.post("/api/v1/ingest/albums", "{not json", content_type="application/json")
    assert response.status_code == 400


def test_viewers_cannot_submit(client: Client, viewer: User) -> None:
    client.force_login(viewer)
    assert client.post("/api/v1/ingest/albums", {"urls": [ID]}, content_type="application/json").status_code == 403
    assert not AlbumSource.objects.exists()


def test_admin_form_reports_one_message_per_line(client: Client, superuser: User) -> None:
    client.force_login(superuser)
    url = reverse("admin:ingest_albumsource_submit")
    assert client.get(url).status_code == 200
    response = client.post(url, {"urls": f"{ID}\n\nhttps://open.spotify.com/artist/{ID2}\nspotify:album:{ID}\n"})
    assert response.status_code == 302
    texts = [str(m) for m in get_messages(response.wsgi_request)]
    assert texts[0] == f"Line 1: {ID} — accepted (album {ID})"
    assert texts[1] == f"Line 2: https://open.spotify.com/artist/{ID2} — invalid: this is a Spotify artist link, not an album"
    assert texts[2] == f"Line 3: spotify:album:{ID} — duplicate: repeated in this submission"
    assert texts[3] == "1 queued, 1 duplicate, 1 invalid."
    assert AlbumSource.objects.get(status="queued").submitted_by == "admin:root"


def test_admin_form_rejects_an_empty_paste(client: Client, superuser: User) -> None:
    client.force_login(superuser)
    response = client.post(reverse("admin:ingest_albumsource_submit"), {"urls": "\n  \n"})
    assert response.status_code == 200
    assert "Paste at least one album link." in response.content.decode()


def test_command_queues_a_file_and_lists_invalid_lines(tmp_path: Path) -> None:
    path = tmp_path / "albums.txt"
    path.write_text(f"# weekly list\n{ID}\nhttps://open.spotify.com/playlist/{ID2}\n\nspotify:album:{ID2}\n{ID}\n")
    out, err = StringIO(), StringIO()
    call_command("ingest_urls", str(path), stdout=out, stderr=err)
    text = out.getvalue()
    assert "line 3: invalid: " in text and "this is a Spotify playlist link, not an album" in text
    assert f"line 6: duplicate: {ID}: repeated in this submission" in text
    assert "2 queued, 1 duplicate, 1 invalid (4 lines)." in text
    assert "4/4" in err.getvalue()
    assert AlbumSource.objects.filter(status="queued").count() == 2
    assert set(AlbumSource.objects.values_list("submitted_by", flat=True)) == {cli_actor()}


def test_command_keeps_binary_garbage_as_invalid(tmp_path: Path) -> None:
    path = tmp_path / "garbage.bin"
    path.write_bytes(b"\x00\xff\xfe junk\n" + ID.encode() + b"\n")
    out = StringIO()
    call_command("ingest_urls", str(path), "--no-progress", stdout=out)
    assert "1 queued, 0 duplicate, 1 invalid (2 lines)." in out.getvalue()
    assert AlbumSource.objects.filter(status="invalid").count() == 1


def test_command_fails_clearly_on_a_missing_file_and_in_strict_mode(tmp_path: Path) -> None:
    with pytest.raises(CommandError, match="no such file"):
        call_command("ingest_urls", str(tmp_path / "missing.txt"))
    path = tmp_path / "bad.txt"
    path.write_text("bad line\n")
    with pytest.raises(CommandError, match="1 invalid"):
        call_command("ingest_urls", str(path), "--strict", "--no-progress", stdout=StringIO())


def test_demo_queues_new_releases_once(spotify_emulator: SpotifyEmulator, extended_app: Any) -> None:
    # The demo app is extended-quota: new releases are refused to Development Mode apps.
    assert demo_queue_sources(count=30) == 30
    assert spotify_emulator.count("browse_new_releases") == 1
    assert demo_queue_sources(count=30) == 0
    queued = set(AlbumSource.objects.values_list("spotify_album_id", flat=True))
    assert queued == set(spotify_emulator.catalog.album_ids()[:30])


def test_tracks_api_pages_and_filters(
    client: Client, viewer: User, spotify_emulator: SpotifyEmulator, django_assert_max_num_queries
) -> None:
    from ingest.models import Track
    from ingest.services import audio_features_fetch, ingest_albums_from_sources

    album_ids = spotify_emulator.catalog.album_ids()[:4]
    album_sources_submit(raw_inputs=album_ids, submitted_by="test")
    ingest_albums_from_sources()
    audio_features_fetch()
    client.force_login(viewer)
    with django_assert_max_num_queries(6):
        page = client.get("/api/v1/tracks?page_size=5").json()
    assert page["count"] == Track.objects.count() and len(page["results"]) == 5
    first = page["results"][0]
    assert set(first) >= {"spotify_id", "name", "artist", "album", "isrc", "has_features", "audio_features"}
    with_features = client.get("/api/v1/tracks?has_features=true&page_size=500").json()
    assert with_features["count"] == Track.objects.filter(features_fetched_at__isnull=False).count()
    assert all(t["has_features"] for t in with_features["results"])
    by_album = client.get(f"/api/v1/tracks?album={album_ids[0]}&page_size=500").json()
    assert by_album["count"] == len(spotify_emulator.catalog.album_track_ids(album_ids[0]))
    by_artist = client.get(f"/api/v1/tracks?artist={first['artist_id']}").json()
    assert all(t["artist_id"] == first["artist_id"] for t in by_artist["results"])
    by_id = client.get(f"/api/v1/tracks?search={first['spotify_id']}").json()
    assert [t["spotify_id"] for t in by_id["results"]] == [first["spotify_id"]]
    bad = client.get("/api/v1/tracks?has_features=maybe")
    assert bad.status_code == 400 and "has_features" in bad.json()["errors"]
    assert client.get("/api/v1/tracks?page=999").status_code == 404


BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


def test_parsing_never_raises_and_every_shape_of_a_valid_id_round_trips() -> None:
    from hypothesis import given, settings
    from hypothesis import strategies as st

    ids = st.text(alphabet=BASE62, min_size=22, max_size=22)
    shapes = st.sampled_from(
        [
            "{}",
            "spotify:album:{}",
            "https://open.spotify.com/album/{}",
            "https://open.spotify.com/album/{}?si=Zx9",
            "https://open.spotify.com/intl-fr/album/{}",
            "open.spotify.com/album/{}/",
        ]
    )

    @settings(max_examples=200, deadline=None, database=None)
    @given(album_id=ids, shape=shapes, noise=st.text(max_size=60))
    def check(album_id: str, shape: str, noise: str) -> None:
        assert album_id_parse(f"  {shape.format(album_id)} ").album_id == album_id
        parsed = album_id_parse(noise)
        assert parsed.ok != bool(parsed.reason)

    check()
