"""The emulator over real HTTP: Spotify's limits, its 2026 paths, faults and counters."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import requests

from devstack.emulator import Catalog, EmulatorRemote, SpotifyEmulator


def _client_token(emu: SpotifyEmulator, client_id: str = "app-1") -> str:
    response = requests.post(
        f"{emu.accounts_url}api/token",
        data={"grant_type": "client_credentials"},
        auth=(client_id, "secret"),
        timeout=5,
    )
    assert response.status_code == 200
    return str(response.json()["access_token"])


def _get(emu: SpotifyEmulator, path: str, token: str, **params: Any) -> requests.Response:
    return requests.get(f"{emu.api_url}{path}", params=params, headers={"Authorization": f"Bearer {token}"}, timeout=5)


def _send(emu: SpotifyEmulator, method: str, path: str, token: str, body: Any = None) -> requests.Response:
    return requests.request(method, f"{emu.api_url}{path}", json=body, headers={"Authorization": f"Bearer {token}"}, timeout=5)


def test_catalog_is_deterministic_from_the_seed() -> None:
    first, second, other = Catalog(7), Catalog(7), Catalog(8)
    assert first.album_ids() == second.album_ids()
    assert first.track_ids() == second.track_ids()
    assert first.album_ids() != other.album_ids()
    assert first.long_album_ids(), "some albums need more than one album-tracks page"
    assert first.tracks_without_features(), "some tracks have null audio features"


def test_several_albums_accepts_twenty_ids_and_answers_400_beyond(spotify_emulator: SpotifyEmulator) -> None:
    spotify_emulator.set_app_mode("app-1", "extended")  # refused to Development Mode apps
    token = _client_token(spotify_emulator)
    ids = spotify_emulator.catalog.album_ids()
    ok = _get(spotify_emulator, "albums", token, ids=",".join(ids[:20]))
    assert ok.status_code == 200
    assert [a["id"] for a in ok.json()["albums"]] == ids[:20]
    too_many = _get(spotify_emulator, "albums", token, ids=",".join(ids[:21]))
    assert too_many.status_code == 400
    assert too_many.json()["error"]["status"] == 400
    unknown = _get(spotify_emulator, "albums", token, ids="0000000000000000000000")
    assert unknown.json()["albums"] == [None]
    assert spotify_emulator.count("albums") == 3


def test_album_tracks_pages_hold_at_most_fifty_and_next_names_the_emulator(spotify_emulator: SpotifyEmulator) -> None:
    token = _client_token(spotify_emulator)
    album_id = spotify_emulator.catalog.long_album_ids()[0]
    assert _get(spotify_emulator, f"albums/{album_id}/tracks", token, limit=51).status_code == 400
    page = _get(spotify_emulator, f"albums/{album_id}/tracks", token, limit=50).json()
    seen = [t["id"] for t in page["items"]]
    while page["next"]:
        assert page["next"].startswith(spotify_emulator.url)
        page = requests.get(page["next"], headers={"Authorization": f"Bearer {token}"}, timeout=5).json()
        seen += [t["id"] for t in page["items"]]
    assert seen == spotify_emulator.catalog.album_track_ids(album_id)
    assert spotify_emulator.count("album_tracks") == 1 + (len(seen) + 49) // 50


def test_new_releases_page_through_the_whole_catalog(spotify_emulator: SpotifyEmulator) -> None:
    spotify_emulator.set_app_mode("app-1", "extended")  # refused to Development Mode apps
    token = _client_token(spotify_emulator)
    assert _get(spotify_emulator, "browse/new-releases", token, limit=51).status_code == 400
    found: list[str] = []
    url: str | None = f"{spotify_emulator.api_url}browse/new-releases?limit=50"
    while url:
        albums = requests.get(url, headers={"Authorization": f"Bearer {token}"}, timeout=5).json()["albums"]
        found += [a["id"] for a in albums["items"]]
        url = albums["next"]
    assert found == spotify_emulator.catalog.album_ids()


def test_audio_features_limit_nulls_and_switch_to_403(spotify_emulator: SpotifyEmulator) -> None:
    # An extended app registered before 27 Nov 2024: still served audio features.
    spotify_emulator.set_app_mode("app-1", "extended")
    spotify_emulator.grant_audio_features("app-1")
    token = _client_token(spotify_emulator)
    ids = spotify_emulator.catalog.track_ids()
    assert _get(spotify_emulator, "audio-features", token, ids=",".join(ids[:101])).status_code == 400
    missing = spotify_emulator.catalog.tracks_without_features()[0]
    features = _get(spotify_emulator, "audio-features", token, ids=f"{ids[0]},{missing}").json()["audio_features"]
    assert features[0]["id"] == ids[0] and features[1] is None
    spotify_emulator.set_audio_features_enabled(False)
    assert _get(spotify_emulator, "audio-features", token, ids=ids[0]).status_code == 403


def test_development_mode_apps_get_403_on_batch_endpoints_but_not_single_album(
    spotify_emulator: SpotifyEmulator,
) -> None:
    spotify_emulator.set_app_mode("dev-app", "development")
    spotify_emulator.set_app_mode("extended-app", "extended")
    token = _client_token(spotify_emulator, "dev-app")
    album_id = spotify_emulator.catalog.album_ids()[0]
    assert _get(spotify_emulator, "albums", token, ids=album_id).status_code == 403
    assert _get(spotify_emulator, "audio-features", token, ids=spotify_emulator.catalog.track_ids()[0]).status_code == 403
    assert _get(spotify_emulator, f"albums/{album_id}", token).status_code == 200
    assert _get(spotify_emulator, "albums", _client_token(spotify_emulator, "extended-app"), ids=album_id).status_code == 200


def test_playlist_lifecycle_on_the_2026_paths(spotify_emulator: SpotifyEmulator) -> None:
    user = spotify_emulator.create_user("alice", display_name="Alice")
    token = user["access_token"]
    assert _get(spotify_emulator, "me", token).json()["id"] == "alice"
    created = _send(spotify_emulator, "POST", "me/playlists", token, {"name": "Mix", "public": False})
    assert created.status_code == 201
    playlist_id = created.json()["id"]
    uris = spotify_emulator.catalog.track_uris()
    assert _send(spotify_emulator, "PUT", f"playlists/{playlist_id}/items", token, {"uris": uris[:101]}).status_code == 400
    assert _send(spotify_emulator, "PUT", f"playlists/{playlist_id}/items", token, {"uris": uris[:100]}).status_code == 200
    assert _send(spotify_emulator, "POST", f"playlists/{playlist_id}/items", token, {"uris": uris[100:130]}).status_code == 201
    assert _send(spotify_emulator, "POST", f"playlists/{playlist_id}/items", token, {"uris": ["nope"]}).status_code == 400
    assert _send(spotify_emulator, "PUT", f"playlists/{playlist_id}", token, {"name": "Renamed"}).status_code == 200
    fetched = _get(spotify_emulator, f"playlists/{playlist_id}", token).json()
    assert fetched["name"] == "Renamed"
    assert fetched["items"]["total"] == 130
    assert spotify_emulator.playlist(playlist_id)["uris"] == uris[:130]  # type: ignore[index]
    assert [p["id"] for p in spotify_emulator.playlists_of("alice")] == [playlist_id]
    # A Development Mode app (the default) is refused the deprecated followers endpoint.
    assert _send(spotify_emulator, "DELETE", f"playlists/{playlist_id}/followers", token).status_code == 403
    removed = _send(spotify_emulator, "DELETE", f"me/library?uris=spotify:playlist:{playlist_id}", token)
    assert removed.status_code == 200
    assert spotify_emulator.playlists_of("alice") == []


@pytest.mark.parametrize("method", ["GET", "PUT", "POST"])
def test_the_old_tracks_path_answers_403(spotify_emulator: SpotifyEmulator, method: str) -> None:
    token = spotify_emulator.create_user("bob")["access_token"]
    playlist_id = _send(spotify_emulator, "POST", "me/playlists", token, {"name": "x"}).json()["id"]
    response = _send(spotify_emulator, method, f"playlists/{playlist_id}/tracks", token, {"uris": []})
    assert response.status_code == 403
    assert spotify_emulator.count("playlist_tracks_legacy") == 1


def test_a_user_cannot_modify_someone_elses_playlist(spotify_emulator: SpotifyEmulator) -> None:
    owner = spotify_emulator.create_user("owner")["access_token"]
    other = spotify_emulator.create_user("other")["access_token"]
    playlist_id = _send(spotify_emulator, "POST", "me/playlists", owner, {"name": "x"}).json()["id"]
    assert _send(spotify_emulator, "PUT", f"playlists/{playlist_id}/items", other, {"uris": []}).status_code == 403


def test_token_endpoint_refresh_grant_revocation_and_six_month_life(spotify_emulator: SpotifyEmulator) -> None:
    def refresh(refresh_token: str) -> requests.Response:
        return requests.post(
            f"{spotify_emulator.accounts_url}api/token",
            data={"grant_type": "refresh_token", "refresh_token": refresh_token},
            auth=("app-1", "secret"),
            timeout=5,
        )

    fresh = spotify_emulator.create_user("carol")
    granted = refresh(fresh["refresh_token"])
    assert granted.status_code == 200
    assert granted.json()["expires_in"] == 3600
    assert "refresh_token" not in granted.json()
    assert _get(spotify_emulator, "me", granted.json()["access_token"]).status_code == 200

    spotify_emulator.revoke(fresh["refresh_token"])
    assert refresh(fresh["refresh_token"]).json()["error"] == "invalid_grant"

    old = spotify_emulator.create_user("dave", authorized_at=datetime.now(UTC) - timedelta(days=190))
    expired = refresh(old["refresh_token"])
    assert (expired.status_code, expired.json()["error"]) == (400, "invalid_grant")
    assert spotify_emulator.count("token") == 3


def test_client_credentials_tokens_cannot_reach_user_endpoints(spotify_emulator: SpotifyEmulator) -> None:
    assert _get(spotify_emulator, "me", _client_token(spotify_emulator)).status_code == 401


def test_fault_429_with_retry_after_for_a_number_of_times(spotify_emulator: SpotifyEmulator) -> None:
    token = _client_token(spotify_emulator)
    album_id = spotify_emulator.catalog.album_ids()[0]
    spotify_emulator.fault("album", status=429, retry_after=7, times=2)
    first, second, third = (_get(spotify_emulator, f"albums/{album_id}", token) for _ in range(3))
    assert (first.status_code, first.headers["Retry-After"]) == (429, "7")
    assert second.status_code == 429
    assert third.status_code == 200
    assert spotify_emulator.count("album") == 3


def test_fault_5xx_until_cleared_and_on_every_endpoint(spotify_emulator: SpotifyEmulator) -> None:
    spotify_emulator.set_app_mode("app-1", "extended")
    token = _client_token(spotify_emulator)
    spotify_emulator.fault("*", status=503)
    assert _get(spotify_emulator, "browse/new-releases", token).status_code == 503
    assert _get(spotify_emulator, f"albums/{spotify_emulator.catalog.album_ids()[0]}", token).status_code == 503
    spotify_emulator.clear_faults()
    assert _get(spotify_emulator, "browse/new-releases", token).status_code == 200


def test_fault_latency_makes_a_short_timeout_fail(spotify_emulator: SpotifyEmulator) -> None:
    token = _client_token(spotify_emulator)
    spotify_emulator.fault("me", status=None, latency=0.5, times=1)
    user_token = spotify_emulator.create_user("erin")["access_token"]
    with pytest.raises(requests.Timeout):
        requests.get(f"{spotify_emulator.api_url}me", headers={"Authorization": f"Bearer {user_token}"}, timeout=0.1)
    assert _get(spotify_emulator, "me", user_token).status_code == 200
    assert token


def test_expired_access_tokens_answer_401_until_refreshed(spotify_emulator: SpotifyEmulator) -> None:
    user = spotify_emulator.create_user("frank")
    spotify_emulator.expire_access_tokens()
    response = _get(spotify_emulator, "me", user["access_token"])
    assert response.status_code == 401
    assert response.json()["error"]["message"] == "The access token expired"
    spotify_emulator.fault("me", status=401, times=1)
    fresh = requests.post(
        f"{spotify_emulator.accounts_url}api/token",
        data={"grant_type": "refresh_token", "refresh_token": user["refresh_token"]},
        auth=("app-1", "secret"),
        timeout=5,
    ).json()["access_token"]
    assert _get(spotify_emulator, "me", fresh).status_code == 401  # the injected one
    assert _get(spotify_emulator, "me", fresh).status_code == 200


def test_token_endpoint_fault_answers_oauth_errors(spotify_emulator: SpotifyEmulator) -> None:
    spotify_emulator.fault("token", status=400, times=1)
    response = requests.post(
        f"{spotify_emulator.accounts_url}api/token",
        data={"grant_type": "client_credentials"},
        auth=("a", "b"),
        timeout=5,
    )
    assert (response.status_code, response.json()["error"]) == (400, "invalid_grant")


def test_reset_forgets_faults_counters_and_playlists(spotify_emulator: SpotifyEmulator) -> None:
    token = spotify_emulator.create_user("gina")["access_token"]
    _send(spotify_emulator, "POST", "me/playlists", token, {"name": "x"})
    spotify_emulator.fault("me", status=500)
    spotify_emulator.reset()
    assert spotify_emulator.counts() == {}
    assert spotify_emulator.playlists_of("gina") == []
    assert _get(spotify_emulator, "me", token).status_code == 401  # tokens are forgotten too


def test_remote_control_api_drives_the_same_state(spotify_emulator: SpotifyEmulator) -> None:
    remote = EmulatorRemote(spotify_emulator.url)
    remote.fault("album", status=502, times=1)
    user = remote.create_user("hank", authorized_at=datetime.now(UTC) - timedelta(days=1))
    assert _get(spotify_emulator, f"albums/{spotify_emulator.catalog.album_ids()[0]}", user["access_token"]).status_code == 502
    assert remote.count("album") == 1
    assert remote.album_ids() == spotify_emulator.catalog.album_ids()
    remote.set_app_mode("dev", "development")
    assert spotify_emulator.app_mode("dev") == "development"
    remote.reset()
    assert spotify_emulator.counts() == {}


def test_rolling_window_rate_limit_per_app(spotify_emulator: SpotifyEmulator) -> None:
    spotify_emulator.set_rate_limit("app-1", 3)
    limited, other = _client_token(spotify_emulator, "app-1"), _client_token(spotify_emulator, "app-2")
    album_id = spotify_emulator.catalog.album_ids()[0]
    statuses = [_get(spotify_emulator, f"albums/{album_id}", limited).status_code for _ in range(4)]
    assert statuses == [200, 200, 200, 429]
    refused = _get(spotify_emulator, f"albums/{album_id}", limited)
    assert 1 <= int(refused.headers["Retry-After"]) <= 30
    assert _get(spotify_emulator, f"albums/{album_id}", other).status_code == 200
    spotify_emulator.set_rate_limit("app-1", None)
    assert _get(spotify_emulator, f"albums/{album_id}", limited).status_code == 200


def test_concurrent_requests_lose_no_writes_or_counts(spotify_emulator: SpotifyEmulator) -> None:
    from concurrent.futures import ThreadPoolExecutor

    token = spotify_emulator.create_user("ned")["access_token"]
    playlist_id = _send(spotify_emulator, "POST", "me/playlists", token, {"name": "busy"}).json()["id"]
    uris = spotify_emulator.catalog.track_uris()[:80]

    def add(uri: str) -> int:
        return _send(spotify_emulator, "POST", f"playlists/{playlist_id}/items", token, {"uris": [uri]}).status_code

    with ThreadPoolExecutor(max_workers=8) as pool:
        statuses = list(pool.map(add, uris))
    assert statuses == [201] * 80
    assert sorted(spotify_emulator.playlist(playlist_id)["uris"]) == sorted(uris)  # type: ignore[index]
    assert spotify_emulator.count("playlist_items_post") == 80


def test_base_latency_delays_every_answer_and_adds_to_a_fault(spotify_emulator: SpotifyEmulator) -> None:
    remote = EmulatorRemote(spotify_emulator.url)
    token = spotify_emulator.create_user("ivy")["access_token"]
    remote.set_latency(0.3)
    assert remote.latency() == 0.3
    with pytest.raises(requests.Timeout):
        requests.get(f"{spotify_emulator.api_url}me", headers={"Authorization": f"Bearer {token}"}, timeout=0.1)
    started = datetime.now(UTC)
    assert _get(spotify_emulator, "me", token).status_code == 200
    assert (datetime.now(UTC) - started).total_seconds() >= 0.3
    remote.set_latency(0)
    assert _get(spotify_emulator, "me", token).status_code == 200


def test_a_user_who_removes_access_loses_refresh_and_access_tokens(spotify_emulator: SpotifyEmulator) -> None:
    remote = EmulatorRemote(spotify_emulator.url)
    user = spotify_emulator.create_user("judy")
    other = spotify_emulator.create_user("kate")
    assert remote.revoke_user("judy") == 1
    assert _get(spotify_emulator, "me", user["access_token"]).status_code == 401
    assert _get(spotify_emulator, "me", other["access_token"]).status_code == 200
    answer = requests.post(
        f"{spotify_emulator.accounts_url}api/token",
        data={"grant_type": "refresh_token", "refresh_token": user["refresh_token"]},
        auth=("app-1", "secret"),
        timeout=5,
    )
    assert (answer.status_code, answer.json()["error"]) == (400, "invalid_grant")


def test_all_playlists_lists_unfollowed_ones_too(spotify_emulator: SpotifyEmulator) -> None:
    remote = EmulatorRemote(spotify_emulator.url)
    token = spotify_emulator.create_user("liam")["access_token"]
    created = _send(spotify_emulator, "POST", "me/playlists", token, {"name": "Mine"}).json()
    remote.edit_playlist(created["id"], followed=False)
    assert remote.playlists_of("liam") == []
    [listed] = remote.playlists()
    assert (listed["id"], listed["followed"]) == (created["id"], False)


def test_a_fault_with_seconds_ends_then_even_if_not_used_up(spotify_emulator: SpotifyEmulator) -> None:
    token = _client_token(spotify_emulator)
    album_id = spotify_emulator.catalog.album_ids()[0]
    EmulatorRemote(spotify_emulator.url).fault("album", status=503, times=100, seconds=0.3)
    assert _get(spotify_emulator, f"albums/{album_id}", token).status_code == 503
    time.sleep(0.4)
    assert _get(spotify_emulator, f"albums/{album_id}", token).status_code == 200


def test_a_client_that_hangs_up_is_no_traceback_in_the_emulators_log(capsys: pytest.CaptureFixture[str]) -> None:
    """A worker killed mid-call resets its connection; the emulator logged a traceback for it, which
    the chaos soak's ledger read as an unexplained one. Spotify does not tell us about our hang-ups."""
    import socket
    import struct

    emu = SpotifyEmulator(seed=7, port=0).start()
    try:
        for _ in range(3):
            client = socket.create_connection(("127.0.0.1", emu.port), timeout=5)
            client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))  # close with a reset
            client.sendall(b"GET /v1/albums HTTP/1.1\r\n")
            time.sleep(0.2)
            client.close()
        time.sleep(0.5)
        assert requests.get(f"{emu.url}/_emulator/counts", timeout=5).status_code == 200
    finally:
        emu.stop()
    assert "Traceback" not in capsys.readouterr().err
