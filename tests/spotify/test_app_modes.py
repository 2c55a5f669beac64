"""The emulator per app mode, against schemas written from Spotify's Web API reference
(tests/spotify/schemas), and capabilities learned only from the refusing endpoint."""

from __future__ import annotations

import copy
import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import requests
import time_machine
from django.utils import timezone

from accounts.models import SpotifyApp
from devstack.emulator import SpotifyEmulator
from ingest.services import album_sources_submit, ingest_albums_from_sources

SCHEMAS = Path(__file__).parent / "schemas"
# February 2026: removed for Development Mode apps (renamed ones are checked by name below).
REMOVED = {
    "AlbumObject": ["available_markets", "popularity"],
    "SimplifiedTrackObject": ["available_markets", "popularity"],
    "PrivateUserObject": ["country", "email", "explicit_content", "followers", "product"],
    "PlaylistObject": ["tracks"],
    "PlaylistTrackObject": ["track"],
}
RENAMED_AWAY = {"PlaylistObject": ["items"], "PlaylistTrackObject": ["item"]}  # absent for extended apps


def schema(name: str, mode: str) -> dict[str, Any]:
    loaded = json.loads((SCHEMAS / f"{name}.json").read_text())
    drop = REMOVED.get(name, []) if mode == "development" else RENAMED_AWAY.get(name, [])
    adjusted = copy.deepcopy(loaded)
    for field in drop:
        adjusted["properties"].pop(field, None)
    if mode == "extended" and name == "AlbumObject":
        adjusted["required"] = [*adjusted["required"], "available_markets"]
    return adjusted


def check(name: str, mode: str, instance: Any) -> None:
    jsonschema.validate(instance, schema(name, mode))


def _user_token(emu: SpotifyEmulator, client_id: str, user: str) -> str:
    refresh = emu.create_user(user, client_id=client_id)["refresh_token"]
    answer = requests.post(
        f"{emu.accounts_url}api/token",
        data={"grant_type": "refresh_token", "refresh_token": refresh},
        auth=(client_id, "secret"),
        timeout=5,
    )
    return str(answer.json()["access_token"])


def _call(emu: SpotifyEmulator, method: str, path: str, token: str, body: Any = None) -> requests.Response:
    return requests.request(method, f"{emu.api_url}{path}", json=body, headers={"Authorization": f"Bearer {token}"}, timeout=5)


@pytest.mark.parametrize("mode", ["development", "extended"])
def test_answers_of_every_endpoint_the_client_calls_match_spotifys_objects(spotify_emulator: SpotifyEmulator, mode: str) -> None:
    spotify_emulator.set_app_mode("app", mode)
    token = _user_token(spotify_emulator, "app", "schema-user")
    catalog = spotify_emulator.catalog
    album_id = catalog.long_album_ids()[0]

    check("PrivateUserObject", mode, _call(spotify_emulator, "GET", "me", token).json())
    album = _call(spotify_emulator, "GET", f"albums/{album_id}", token).json()
    check("AlbumObject", mode, album)
    page = _call(spotify_emulator, "GET", f"albums/{album_id}/tracks?offset=50&limit=50", token).json()
    check("PagingObject", mode, page)
    for track in album["tracks"]["items"] + page["items"]:
        check("SimplifiedTrackObject", mode, track)
    created = _call(spotify_emulator, "POST", "me/playlists", token, {"name": "Mix", "description": "Rock 'n' roll"})
    playlist_id = created.json()["id"]
    _call(spotify_emulator, "PUT", f"playlists/{playlist_id}/items", token, {"uris": catalog.track_uris()[:100]})
    added = _call(
        spotify_emulator, "POST", f"playlists/{playlist_id}/items", token, {"uris": catalog.track_uris()[100:130], "position": 0}
    )
    assert added.status_code == 201 and set(added.json()) == {"snapshot_id"}
    playlist = _call(spotify_emulator, "GET", f"playlists/{playlist_id}", token).json()
    check("PlaylistObject", mode, playlist)
    assert playlist["description"] == "Rock &#x27;n&#x27; roll"  # HTML-escaped, as Spotify answers
    embedded = playlist["tracks" if mode == "extended" else "items"]
    check("PagingObject", mode, embedded)
    for entry in embedded["items"]:
        check("PlaylistTrackObject", mode, entry)
    # The embedded page's `next` works on the items endpoint.
    following = requests.get(embedded["next"], headers={"Authorization": f"Bearer {token}"}, timeout=5)
    assert following.status_code == 200 and len(following.json()["items"]) == 30
    items = _call(spotify_emulator, "GET", f"playlists/{playlist_id}/items", token).json()
    assert items["limit"] == 20  # Spotify's default
    check("PagingObject", mode, items)
    for entry in following.json()["items"] + items["items"]:
        check("PlaylistTrackObject", mode, entry)
    for listed in _call(spotify_emulator, "GET", "me/playlists", token).json()["items"]:
        check("PlaylistObject", mode, listed)
    wrong_method = _call(spotify_emulator, "POST", f"playlists/{playlist_id}", token)
    assert wrong_method.status_code == 405
    check("ErrorObject", mode, wrong_method.json())


def test_development_mode_refuses_what_february_2026_removed(spotify_emulator: SpotifyEmulator) -> None:
    token = _user_token(spotify_emulator, "dev", "dev-user")
    ids = ",".join(spotify_emulator.catalog.album_ids()[:2])
    tracks = ",".join(spotify_emulator.catalog.track_ids()[:2])
    for path in (f"albums?ids={ids}", f"tracks?ids={tracks}", "browse/new-releases", f"audio-features?ids={tracks}"):
        answer = _call(spotify_emulator, "GET", path, token)
        assert answer.status_code == 403, path
        check("ErrorObject", "development", answer.json())
    playlist_id = _call(spotify_emulator, "POST", "me/playlists", token, {"name": "x"}).json()["id"]
    assert _call(spotify_emulator, "DELETE", f"playlists/{playlist_id}/followers", token).status_code == 403
    assert _call(spotify_emulator, "PUT", f"playlists/{playlist_id}/followers", token).status_code == 403


def test_items_of_someone_elses_playlist_are_refused_and_retry_after_is_whole_seconds(spotify_emulator: SpotifyEmulator) -> None:
    owner = _user_token(spotify_emulator, "app", "owner")
    other = _user_token(spotify_emulator, "app", "other")
    playlist_id = _call(spotify_emulator, "POST", "me/playlists", owner, {"name": "x"}).json()["id"]
    assert _call(spotify_emulator, "GET", f"playlists/{playlist_id}/items", other).status_code == 403
    spotify_emulator.fault("me", status=429, retry_after=2.5, times=1)
    assert _call(spotify_emulator, "GET", "me", owner).headers["Retry-After"] == "3"


@pytest.fixture
def sources(spotify_emulator: SpotifyEmulator, db: None) -> list[str]:
    ids = spotify_emulator.catalog.album_ids()[:3]
    album_sources_submit(raw_inputs=[f"spotify:album:{a}" for a in ids], submitted_by="test")
    return ids


def test_a_refusal_of_several_albums_is_relearned_after_the_recheck(
    spotify_emulator: SpotifyEmulator, spotify_app: SpotifyApp, sources: list[str], settings: Any
) -> None:
    ingest_albums_from_sources()
    spotify_app.refresh_from_db()
    assert spotify_app.capabilities["several_albums"] is False

    # The app is upgraded to extended quota; within the recheck interval nothing asks again.
    spotify_emulator.set_app_mode(spotify_app.client_id, "extended")
    album_sources_submit(raw_inputs=[f"spotify:album:{a}" for a in spotify_emulator.catalog.album_ids()[3:6]], submitted_by="t")
    spotify_emulator.reset_counts()
    ingest_albums_from_sources()
    assert spotify_emulator.count("albums") == 0

    album_sources_submit(raw_inputs=[f"spotify:album:{a}" for a in spotify_emulator.catalog.album_ids()[6:9]], submitted_by="t")
    spotify_emulator.reset_counts()
    with time_machine.travel(timezone.now() + timedelta(hours=settings.SPOTIFY_CAPABILITY_RECHECK_HOURS, minutes=1)):
        ingest_albums_from_sources()
    spotify_app.refresh_from_db()
    # Asked again (after a token refresh: a day has passed) and learned: no single-album calls.
    assert (spotify_emulator.count("albums") >= 1, spotify_emulator.count("album")) == (True, 0)
    assert spotify_app.capabilities["several_albums"] is True


def test_an_unrelated_403_is_not_taken_for_a_capability(
    spotify_emulator: SpotifyEmulator, extended_app: SpotifyApp, sources: list[str]
) -> None:
    # 403 on every call (a Development Mode app whose owner lost Premium answers so).
    spotify_emulator.fault("albums", status=403, times=1)
    spotify_emulator.fault("album", status=403, times=1)

    summary = ingest_albums_from_sources()

    extended_app.refresh_from_db()
    assert "several_albums" not in extended_app.capabilities
    assert (extended_app.health, "403 on every call" in extended_app.health_reason) == ("degraded", True)
    assert summary["albums_done"] == 0
