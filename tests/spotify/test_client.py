"""SpotifyClient against the emulator over real HTTP through spotipy: retries, Retry-After,
token refresh, capabilities, playlist writes. Call counts, never wall-clock times."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import pytest
import requests
import spotipy
from spotipy.exceptions import SpotifyException

from core.counters import counter_total
from devstack.emulator import SpotifyEmulator
from spotify import (
    SpotifyAuthError,
    SpotifyClient,
    SpotifyForbidden,
    SpotifyInvalidGrant,
    SpotifyNotFound,
    SpotifyRateLimited,
    SpotifyServerError,
    request_client_credentials,
    request_token_refresh,
)
from spotify.ratelimit import bucket_clear_block, bucket_state
from tests.fixtures_spotify import RecordingProvider

# Token buckets read their rate and burst from the database (rate-limit settings).
pytestmark = pytest.mark.django_db

UserClientFactory = Callable[..., tuple[SpotifyClient, RecordingProvider, dict[str, Any]]]


def test_5xx_is_retried_until_it_succeeds(spotify_emulator: SpotifyEmulator, catalog_client: SpotifyClient) -> None:
    album_id = spotify_emulator.catalog.album_ids()[0]
    spotify_emulator.fault("album", status=503, times=2)
    assert catalog_client.album(album_id)["id"] == album_id
    assert spotify_emulator.count("album") == 3
    assert counter_total("spotify_retries_total", status="503") == 2
    assert counter_total("spotify_requests_total", endpoint="album") == 3


def test_six_attempts_at_most_then_server_error(
    spotify_emulator: SpotifyEmulator, catalog_client: SpotifyClient
) -> None:
    spotify_emulator.fault("album", status=500)
    with pytest.raises(SpotifyServerError) as raised:
        catalog_client.album(spotify_emulator.catalog.album_ids()[0])
    assert spotify_emulator.count("album") == 6
    assert raised.value.status == 500
    assert raised.value.endpoint == "album"
    assert counter_total("spotify_retries_total", status="500") == 5


def test_attempts_follow_the_setting(
    spotify_emulator: SpotifyEmulator, catalog_client: SpotifyClient, settings: Any
) -> None:
    settings.SPOTIFY_MAX_ATTEMPTS = 3
    spotify_emulator.fault("browse_new_releases", status=502)
    with pytest.raises(SpotifyServerError):
        catalog_client.new_releases()
    assert spotify_emulator.count("browse_new_releases") == 3


def test_connection_errors_are_retried_then_reported_as_server_error(
    catalog_client: SpotifyClient, settings: Any
) -> None:
    settings.SPOTIFY_API_URL = "http://127.0.0.1:9/v1/"  # nothing listens on the discard port
    with pytest.raises(SpotifyServerError) as raised:
        catalog_client.album("4aawyAB9vmqN3uQ7FjRGTy")
    assert "connection" in str(raised.value)
    assert counter_total("spotify_retries_total", status="connection") == 5
    assert counter_total("spotify_requests_total", endpoint="album") == 6


def test_a_timeout_is_retried(spotify_emulator: SpotifyEmulator, catalog_client: SpotifyClient, settings: Any) -> None:
    settings.SPOTIFY_REQUEST_TIMEOUT = 0.2
    spotify_emulator.fault("album", status=None, latency=0.6, times=1)
    album_id = spotify_emulator.catalog.album_ids()[1]
    assert catalog_client.album(album_id)["id"] == album_id
    assert spotify_emulator.count("album") == 2
    assert counter_total("spotify_retries_total", status="timeout") == 1


def test_retry_after_below_the_ceiling_is_slept_out_and_blocks_the_app_bucket(
    spotify_emulator: SpotifyEmulator, catalog_client: SpotifyClient, settings: Any
) -> None:
    settings.SPOTIFY_MAX_SLEEP_SECONDS = 2.0
    spotify_emulator.fault("album", status=429, retry_after=1, times=1)
    album_id = spotify_emulator.catalog.album_ids()[0]
    assert catalog_client.album(album_id)["id"] == album_id
    assert spotify_emulator.count("album") == 2
    # Slept exactly Retry-After (no jitter on a server-given wait; Spotify sends whole seconds).
    assert counter_total("spotify_backoff_seconds_total", reason="429") == pytest.approx(1.0)
    assert counter_total("spotify_retries_total", status="429") == 1
    assert bucket_state("app", "a1")["last_429_at"] is not None


def test_retry_after_above_the_ceiling_raises_at_once_and_parks_every_worker_of_the_app(
    spotify_emulator: SpotifyEmulator, catalog_client: SpotifyClient
) -> None:
    spotify_emulator.fault("album", status=429, retry_after=30, times=1)
    album_id = spotify_emulator.catalog.album_ids()[0]
    with pytest.raises(SpotifyRateLimited) as raised:
        catalog_client.album(album_id)
    assert raised.value.retry_after == 30
    assert spotify_emulator.count("album") == 1
    assert counter_total("spotify_backoff_seconds_total", reason="429") == 0
    # Another client of the same app (another worker) does not even send its request.
    other = SpotifyClient(app_key="a1", token_provider=RecordingProvider(client_id="a1"))
    with pytest.raises(SpotifyRateLimited) as blocked:
        other.several_albums([album_id])
    assert blocked.value.retry_after > 25
    assert spotify_emulator.count("albums") == 0
    assert bucket_state("app", "a1")["blocked_until"] is not None
    bucket_clear_block("app", "a1")
    assert other.several_albums([album_id])[0]["id"] == album_id  # type: ignore[index]


def test_429_without_retry_after_through_every_attempt_is_rate_limited(
    spotify_emulator: SpotifyEmulator, catalog_client: SpotifyClient
) -> None:
    spotify_emulator.fault("album_tracks", status=429)
    with pytest.raises(SpotifyRateLimited):
        catalog_client.album_tracks(spotify_emulator.catalog.album_ids()[0])
    assert spotify_emulator.count("album_tracks") == 6


def test_401_forces_one_refresh_then_succeeds(
    spotify_emulator: SpotifyEmulator, make_user_client: UserClientFactory
) -> None:
    client, provider, _ = make_user_client("alice")
    spotify_emulator.expire_access_tokens()
    assert client.current_user()["id"] == "alice"
    assert provider.calls == [False, True]
    assert spotify_emulator.count("me") == 2
    assert spotify_emulator.count("token") == 1


def test_401_that_survives_the_refresh_is_an_auth_error(
    spotify_emulator: SpotifyEmulator, make_user_client: UserClientFactory
) -> None:
    client, provider, _ = make_user_client("bob")
    spotify_emulator.fault("me", status=401)
    with pytest.raises(SpotifyAuthError) as raised:
        client.current_user()
    assert not isinstance(raised.value, SpotifyInvalidGrant)
    assert provider.calls == [False, True]
    assert spotify_emulator.count("me") == 2


def test_a_revoked_refresh_token_surfaces_as_invalid_grant(
    spotify_emulator: SpotifyEmulator, make_user_client: UserClientFactory
) -> None:
    client, _, user = make_user_client("carol")
    spotify_emulator.revoke(user["refresh_token"])
    spotify_emulator.expire_access_tokens()
    with pytest.raises(SpotifyInvalidGrant):
        client.current_user()
    assert spotify_emulator.count("me") == 1


def test_4xx_are_not_retried(spotify_emulator: SpotifyEmulator, catalog_client: SpotifyClient) -> None:
    with pytest.raises(SpotifyNotFound):
        catalog_client.album("0000000000000000000000")
    assert spotify_emulator.count("album") == 1
    assert counter_total("spotify_retries_total", status="404") == 0


def test_limits_are_checked_before_any_call(spotify_emulator: SpotifyEmulator, catalog_client: SpotifyClient) -> None:
    ids = spotify_emulator.catalog.album_ids()
    with pytest.raises(ValueError):
        catalog_client.several_albums(ids[:21])
    with pytest.raises(ValueError):
        catalog_client.audio_features(spotify_emulator.catalog.track_ids()[:101])
    with pytest.raises(ValueError):
        catalog_client.album_tracks(ids[0], limit=51)
    assert spotify_emulator.counts() == {}


def test_catalog_reads(spotify_emulator: SpotifyEmulator, catalog_client: SpotifyClient) -> None:
    # An extended app still served audio features: every catalog endpoint answers.
    spotify_emulator.set_app_mode("a1", "extended")
    spotify_emulator.grant_audio_features("a1")
    catalog = spotify_emulator.catalog
    ids = catalog.album_ids()[:20]
    assert [a["id"] for a in catalog_client.several_albums(ids)] == ids  # type: ignore[index]
    long_album = catalog.long_album_ids()[0]
    second_page = catalog_client.album_tracks(long_album, offset=50)
    assert [t["id"] for t in second_page["items"]] == catalog.album_track_ids(long_album)[50:100]
    releases = catalog_client.new_releases(limit=10)["albums"]
    assert releases["total"] == len(catalog.album_ids())
    track_ids = catalog.track_ids()[:100]
    features = catalog_client.audio_features(track_ids)
    assert len(features) == 100
    assert {f["id"] for f in features if f} <= set(track_ids)
    assert spotify_emulator.counts() == {
        "token": 1,
        "albums": 1,
        "album_tracks": 1,
        "browse_new_releases": 1,
        "audio_features": 1,
    }


def test_development_mode_403_is_learned_and_single_album_calls_take_over(spotify_emulator: SpotifyEmulator) -> None:
    spotify_emulator.set_app_mode("dev-app", "development")
    learned: list[tuple[str, bool]] = []
    client = SpotifyClient(
        app_key="dev-app",
        token_provider=RecordingProvider(client_id="dev-app"),
        on_capability=lambda name, value: learned.append((name, value)),
    )
    ids = spotify_emulator.catalog.album_ids()
    first = client.several_albums(ids[:5])
    assert [a["id"] for a in first] == ids[:5]  # type: ignore[index]
    assert learned == [("several_albums", False)]
    assert client.capabilities == {"several_albums": False}
    assert (spotify_emulator.count("albums"), spotify_emulator.count("album")) == (1, 5)

    client.several_albums(ids[5:8] + ["0000000000000000000000"])
    assert (spotify_emulator.count("albums"), spotify_emulator.count("album")) == (1, 9)
    assert learned == [("several_albums", False)]  # reported once


def test_a_persisted_capability_skips_the_refused_call(spotify_emulator: SpotifyEmulator) -> None:
    client = SpotifyClient(
        app_key="a2", token_provider=RecordingProvider(client_id="a2"), capabilities={"several_albums": False}
    )
    client.several_albums(spotify_emulator.catalog.album_ids()[:3])
    assert (spotify_emulator.count("albums"), spotify_emulator.count("album")) == (0, 3)


def test_a_persisted_audio_features_refusal_still_lets_the_caller_probe(spotify_emulator: SpotifyEmulator) -> None:
    spotify_emulator.set_app_mode("a3", "extended")
    spotify_emulator.grant_audio_features("a3")  # the app was granted since its refusal
    learned: list[tuple[str, bool]] = []
    client = SpotifyClient(
        app_key="a3",
        token_provider=RecordingProvider(client_id="a3"),
        capabilities={"audio_features": False},
        on_capability=lambda n, v: learned.append((n, v)),
    )
    assert len(client.audio_features(spotify_emulator.catalog.track_ids()[:2])) == 2
    assert learned == [("audio_features", True)]
    assert spotify_emulator.count("audio_features") == 1


def test_audio_features_refused_is_learned_and_not_asked_again(
    spotify_emulator: SpotifyEmulator, catalog_client: SpotifyClient
) -> None:
    spotify_emulator.set_audio_features_enabled(False)
    track_ids = spotify_emulator.catalog.track_ids()[:3]
    with pytest.raises(SpotifyForbidden):
        catalog_client.audio_features(track_ids)
    assert catalog_client.learned == {"audio_features": False}
    with pytest.raises(SpotifyForbidden):
        catalog_client.audio_features(track_ids)
    assert spotify_emulator.count("audio_features") == 1


def test_replace_of_250_uris_is_one_put_and_two_posts(
    spotify_emulator: SpotifyEmulator, make_user_client: UserClientFactory
) -> None:
    client, _, _ = make_user_client("dora")
    playlist = client.create_playlist(name="Daily 1", description="fifty tracks")
    uris = spotify_emulator.catalog.track_uris()[:250]
    assert client.replace_playlist_items(playlist["id"], uris) == 3
    assert (spotify_emulator.count("playlist_items_put"), spotify_emulator.count("playlist_items_post")) == (1, 2)
    assert spotify_emulator.playlist(playlist["id"])["uris"] == uris  # type: ignore[index]
    assert client.playlist_item_uris(playlist["id"]) == uris
    assert spotify_emulator.count("playlist_items_get") == 5  # 50 per page, following `next`

    # Replacing again replaces: the PUT resets what the earlier POSTs added.
    assert client.replace_playlist_items(playlist["id"], uris[:50]) == 1
    assert spotify_emulator.playlist(playlist["id"])["uris"] == uris[:50]  # type: ignore[index]


def test_items_added_through_the_client_carry_the_adding_users_id(
    spotify_emulator: SpotifyEmulator, make_user_client: UserClientFactory
) -> None:
    client, _, user = make_user_client("gus")
    playlist_id = client.create_playlist(name="Daily 2", description="")["id"]
    # 120 URIs: the first 100 by the replacing PUT, the rest by an adding POST.
    assert client.replace_playlist_items(playlist_id, spotify_emulator.catalog.track_uris()[:120]) == 2
    first = client.get_playlist(playlist_id)["items"]
    rest = requests.get(first["next"], headers={"Authorization": f"Bearer {user['access_token']}"}, timeout=5).json()
    entries = first["items"] + rest["items"]
    assert len(entries) == 120
    assert {entry["added_by"]["id"] for entry in entries} == {"gus"}
    assert entries[0]["added_by"]["uri"] == "spotify:user:gus"


def test_playlist_lifecycle(spotify_emulator: SpotifyEmulator, make_user_client: UserClientFactory) -> None:
    client, _, _ = make_user_client("eve")
    created = client.create_playlist(name="Mix", description="d", public=False)
    assert created["public"] is False
    client.change_playlist_details(created["id"], name="Mix 2", description="new")
    fetched = client.get_playlist(created["id"])
    assert (fetched["name"], fetched["description"]) == ("Mix 2", "new")
    assert [p["id"] for p in client.current_user_playlists()["items"]] == [created["id"]]
    assert client.remove_playlists_from_library([created["id"]]) == 1
    assert client.current_user_playlists()["total"] == 0
    assert spotify_emulator.playlists_of("eve") == []


def test_the_pre_2026_tracks_path_answers_403_through_spotipy(
    spotify_emulator: SpotifyEmulator, make_user_client: UserClientFactory
) -> None:
    client, _, user = make_user_client("fay")
    playlist_id = client.create_playlist(name="x", description="")["id"]
    sp = spotipy.Spotify(auth=user["access_token"], retries=0, status_retries=0)
    sp.prefix = spotify_emulator.api_url
    with pytest.raises(SpotifyException) as raised:
        sp._put(f"playlists/{playlist_id}/tracks", payload={"uris": []})
    assert raised.value.http_status == 403


def test_tokens_never_reach_logs_or_error_messages(
    spotify_emulator: SpotifyEmulator, make_user_client: UserClientFactory, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    client, provider, user = make_user_client("gus")
    spotify_emulator.expire_access_tokens()
    spotify_emulator.fault("me", status=500, times=1)
    client.current_user()
    fresh_token = provider.access_token
    spotify_emulator.revoke(user["refresh_token"])
    with pytest.raises(SpotifyInvalidGrant) as raised:
        request_token_refresh(client_id="a1", client_secret="very-secret", refresh_token=user["refresh_token"])
    grant = request_client_credentials(client_id="a1", client_secret="very-secret")
    secrets = [user["access_token"], user["refresh_token"], fresh_token, grant.access_token, "very-secret"]
    text = caplog.text + str(raised.value) + repr(grant) + repr(client)
    assert caplog.records, "spotipy logged its HTTP errors"
    for secret in secrets:
        assert secret and secret not in text


def test_spotifys_own_window_limit_parks_the_app(
    spotify_emulator: SpotifyEmulator, catalog_client: SpotifyClient
) -> None:
    spotify_emulator.set_rate_limit("a1", 2)
    album_id = spotify_emulator.catalog.album_ids()[0]
    catalog_client.album(album_id)  # the token call is not a Web API call
    catalog_client.album(album_id)
    with pytest.raises(SpotifyRateLimited) as raised:
        catalog_client.album(album_id)
    assert raised.value.retry_after >= 1  # above the test ceiling (0.5 s): parked, not slept
    assert spotify_emulator.count("album") == 3
    assert bucket_state("app", "a1")["blocked_until"] is not None
