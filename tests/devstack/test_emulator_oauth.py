"""The emulator's accounts service over real HTTP: the consent page, the strict
authorization_code grant, PKCE refresh and the Development Mode 5-user allowlist."""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
import time_machine

from devstack.emulator import EmulatorRemote, SpotifyEmulator
from spotify.auth import authorize_url, new_code_verifier, request_authorization_code_grant
from spotify.errors import SpotifyAuthError, SpotifyInvalidGrant

REDIRECT = "https://console.example.com/oauth/spotify/callback"
SCOPE = "playlist-modify-private playlist-modify-public playlist-read-private"


@pytest.fixture
def emulator(spotify_emulator: SpotifyEmulator) -> SpotifyEmulator:
    spotify_emulator.register_app("app-1", "secret-1", "extended", [REDIRECT])
    return spotify_emulator


def _params(url: str) -> dict[str, str]:
    return {name: values[0] for name, values in parse_qs(urlsplit(url).query).items()}


def _consent(
    emu: SpotifyEmulator,
    verifier: str,
    *,
    user: str = "alice",
    decision: str = "agree",
    state: str = "s-1",
    client_id: str = "app-1",
    redirect_uri: str = REDIRECT,
) -> requests.Response:
    url = authorize_url(client_id=client_id, redirect_uri=redirect_uri, scope=SCOPE, state=state, code_verifier=verifier)
    page = requests.get(url, timeout=5)
    assert page.status_code == 200, page.text
    return requests.post(
        f"{emu.url}/authorize", data={**_params(url), "user_id": user, "decision": decision}, allow_redirects=False, timeout=5
    )


def _code(emu: SpotifyEmulator, verifier: str, **kwargs: str) -> str:
    answer = _consent(emu, verifier, **kwargs)
    assert answer.status_code == 302
    return _params(answer.headers["Location"])["code"]


def _exchange(emu: SpotifyEmulator, code: str, verifier: str, *, redirect_uri: str = REDIRECT) -> requests.Response:
    return requests.post(
        f"{emu.accounts_url}api/token",
        data={"grant_type": "authorization_code", "code": code, "redirect_uri": redirect_uri, "code_verifier": verifier},
        auth=("app-1", "secret-1"),
        timeout=5,
    )


def test_consent_page_lists_the_scopes_and_agree_redirects_with_code_and_state(emulator: SpotifyEmulator) -> None:
    verifier = new_code_verifier()
    url = authorize_url(client_id="app-1", redirect_uri=REDIRECT, scope=SCOPE, state="s-1", code_verifier=verifier)
    page = requests.get(url, timeout=5)
    assert page.headers["Content-Type"].startswith("text/html")
    assert "playlist-modify-public" in page.text and "Agree" in page.text and "Cancel" in page.text
    assert verifier not in url and verifier not in page.text
    answer = _consent(emulator, verifier)
    location = answer.headers["Location"]
    assert location.startswith(REDIRECT + "?")
    assert _params(location)["state"] == "s-1" and _params(location)["code"]


def test_cancel_redirects_with_access_denied(emulator: SpotifyEmulator) -> None:
    answer = _consent(emulator, new_code_verifier(), decision="cancel", state="s-9")
    assert answer.status_code == 302
    assert _params(answer.headers["Location"]) == {"error": "access_denied", "state": "s-9"}


def test_unknown_client_and_unregistered_redirect_uri_get_an_error_page_never_a_redirect(emulator: SpotifyEmulator) -> None:
    verifier = new_code_verifier()
    for client_id, redirect_uri, message in [
        ("nobody", REDIRECT, "Invalid client"),
        ("app-1", "https://evil.example.com/cb", "Invalid redirect URI"),
        ("app-1", REDIRECT + "/", "Invalid redirect URI"),
    ]:
        url = authorize_url(client_id=client_id, redirect_uri=redirect_uri, scope=SCOPE, state="s", code_verifier=verifier)
        answer = requests.get(url, allow_redirects=False, timeout=5)
        assert answer.status_code == 400 and "Location" not in answer.headers
        assert message in answer.text


def test_code_exchange_answers_spotify_token_shape(emulator: SpotifyEmulator) -> None:
    verifier = new_code_verifier()
    answer = _exchange(emulator, _code(emulator, verifier), verifier)
    assert answer.status_code == 200
    body = answer.json()
    assert set(body) == {"access_token", "token_type", "scope", "expires_in", "refresh_token"}
    assert body["token_type"] == "Bearer" and body["scope"] == SCOPE and body["expires_in"] == 3600
    me = requests.get(f"{emulator.api_url}me", headers={"Authorization": f"Bearer {body['access_token']}"}, timeout=5)
    assert me.json()["id"] == "alice"


@pytest.mark.parametrize("mistake", ["wrong verifier", "no verifier", "wrong redirect_uri", "reused code", "unknown code"])
def test_strict_token_endpoint_answers_invalid_grant(emulator: SpotifyEmulator, mistake: str) -> None:
    verifier = new_code_verifier()
    code = _code(emulator, verifier)
    if mistake == "wrong verifier":
        answer = _exchange(emulator, code, new_code_verifier())
    elif mistake == "no verifier":
        answer = _exchange(emulator, code, "")
    elif mistake == "wrong redirect_uri":
        answer = _exchange(emulator, code, verifier, redirect_uri=REDIRECT + "?x=1")
    elif mistake == "reused code":
        assert _exchange(emulator, code, verifier).status_code == 200
        answer = _exchange(emulator, code, verifier)
    else:
        answer = _exchange(emulator, code + "x", verifier)
    assert answer.status_code == 400
    assert answer.json()["error"] == "invalid_grant"


def test_a_replayed_code_revokes_the_refresh_token_it_issued(emulator: SpotifyEmulator) -> None:
    verifier = new_code_verifier()
    code = _code(emulator, verifier)
    refresh_token = _exchange(emulator, code, verifier).json()["refresh_token"]
    assert _exchange(emulator, code, verifier).status_code == 400
    answer = requests.post(
        f"{emulator.accounts_url}api/token",
        data={"grant_type": "refresh_token", "refresh_token": refresh_token},
        auth=("app-1", "secret-1"),
        timeout=5,
    )
    assert answer.status_code == 400 and answer.json()["error"] == "invalid_grant"


def test_codes_are_short_lived(emulator: SpotifyEmulator) -> None:
    verifier = new_code_verifier()
    code = _code(emulator, verifier)
    with time_machine.travel(timedelta(minutes=11)):
        answer = _exchange(emulator, code, verifier)
    assert answer.status_code == 400 and answer.json() == {
        "error": "invalid_grant",
        "error_description": "Authorization code expired",
    }


def test_wrong_client_secret_is_invalid_client(emulator: SpotifyEmulator) -> None:
    verifier = new_code_verifier()
    code = _code(emulator, verifier)
    answer = requests.post(
        f"{emulator.accounts_url}api/token",
        data={"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT, "code_verifier": verifier},
        auth=("app-1", "not-the-secret"),
        timeout=5,
    )
    assert answer.status_code == 400 and answer.json()["error"] == "invalid_client"


def test_pkce_public_client_exchanges_and_refreshes_with_client_id_alone(emulator: SpotifyEmulator) -> None:
    verifier = new_code_verifier()
    code = _code(emulator, verifier)
    grant = requests.post(
        f"{emulator.accounts_url}api/token",
        data={
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": REDIRECT,
            "code_verifier": verifier,
            "client_id": "app-1",
        },
        timeout=5,
    ).json()
    refreshed = requests.post(
        f"{emulator.accounts_url}api/token",
        data={"grant_type": "refresh_token", "refresh_token": grant["refresh_token"], "client_id": "app-1"},
        timeout=5,
    )
    assert refreshed.status_code == 200, refreshed.text
    assert refreshed.json()["refresh_token"] != grant["refresh_token"]
    other_client = requests.post(
        f"{emulator.accounts_url}api/token",
        data={"grant_type": "refresh_token", "refresh_token": refreshed.json()["refresh_token"], "client_id": "app-2"},
        timeout=5,
    )
    assert other_client.status_code == 400


def test_client_side_exchange_maps_refusals_to_our_errors(emulator: SpotifyEmulator) -> None:
    verifier = new_code_verifier()
    code = _code(emulator, verifier)
    with pytest.raises(SpotifyInvalidGrant) as refused:
        request_authorization_code_grant(
            client_id="app-1", client_secret="secret-1", code=code, redirect_uri=REDIRECT, code_verifier="x" * 64
        )
    assert "invalid_grant" in str(refused.value) and code not in str(refused.value)
    with pytest.raises(SpotifyAuthError):
        request_authorization_code_grant(
            client_id="app-1", client_secret="wrong", code=code, redirect_uri=REDIRECT, code_verifier=verifier
        )
    code = _code(emulator, verifier)
    grant = request_authorization_code_grant(
        client_id="app-1", client_secret="secret-1", code=code, redirect_uri=REDIRECT, code_verifier=verifier
    )
    assert grant.scope == SCOPE and grant.refresh_token and grant.expires_in == 3600
    assert grant.access_token not in repr(grant)


def test_development_mode_app_admits_five_users_and_the_sixth_gets_403(emulator: SpotifyEmulator) -> None:
    emulator.register_app("app-1", "secret-1", "development", [REDIRECT])
    tokens = {}
    for n in range(1, 7):
        verifier = new_code_verifier()
        code = _code(emulator, verifier, user=f"user-{n}")
        tokens[n] = _exchange(emulator, code, verifier).json()["access_token"]
    statuses = {
        n: requests.get(f"{emulator.api_url}me", headers={"Authorization": f"Bearer {token}"}, timeout=5)
        for n, token in tokens.items()
    }
    assert [statuses[n].status_code for n in range(1, 6)] == [200] * 5
    assert statuses[6].status_code == 403
    assert "may not be registered" in statuses[6].json()["error"]["message"]
    assert emulator.app_users("app-1") == [f"user-{n}" for n in range(1, 7)]


def test_redirect_uris_are_registered_through_the_control_api(emulator: SpotifyEmulator) -> None:
    remote = EmulatorRemote(emulator.url)
    remote.register_app("app-2", "secret-2", "development", ["http://127.0.0.1:9000/cb"])
    verifier = new_code_verifier()
    ok = authorize_url(client_id="app-2", redirect_uri="http://127.0.0.1:9000/cb", scope=SCOPE, state="s", code_verifier=verifier)
    assert requests.get(ok, timeout=5).status_code == 200
    assert emulator.app_mode("app-2") == "development"
    assert remote.app_users("app-2") == []
    bad = requests.post(
        f"{emulator.url}/_emulator/register_app",
        json={"client_id": "x", "client_secret": "y", "redirect_uris": "not-a-list"},
        timeout=5,
    )
    assert bad.status_code == 400
