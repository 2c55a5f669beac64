"""The connect flow in a real browser (Debian's chromium through Playwright): staff → Connect →
the emulator's consent page → Agree (or Cancel) → the console's callback page."""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import urlsplit

import pytest
from django.contrib.auth.models import User
from playwright.sync_api import Page, sync_playwright

from accounts.models import AuthorizationRequest, SpotifyAccount, SpotifyApp
from devstack.emulator import SpotifyEmulator
from playlists.models import Playlist
from playlists.services import playlist_sync, playlists_create, policy_get_default
from spotify.errors import SpotifyInvalidGrant

pytestmark = [pytest.mark.browser, pytest.mark.slow]

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@pytest.fixture
def browser_app(live_server: Any, spotify_emulator: SpotifyEmulator, spotify_app: SpotifyApp, settings: Any) -> SpotifyApp:
    """The app registered with the live server's callback (a loopback IP literal, as Spotify wants)."""
    redirect_uri = f"http://127.0.0.1:{urlsplit(live_server.url).port}/oauth/spotify/callback"
    settings.SPOTIFY_REDIRECT_URI = redirect_uri
    spotify_emulator.register_app(spotify_app.client_id, spotify_app.client_secret, "extended", [redirect_uri])
    return spotify_app


@contextmanager
def chromium_page() -> Iterator[Page]:
    """A page of Debian's chromium; the database is used only outside it (Playwright runs an event loop)."""
    chromium = shutil.which("chromium")
    assert chromium, "Debian's chromium is required: make browser"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        try:
            yield browser.new_page(viewport={"width": 1300, "height": 900})
        finally:
            browser.close()


def _login_and_open_link(page: Page, base_url: str, app: SpotifyApp) -> None:
    base_url = base_url.replace("localhost", "127.0.0.1")
    page.goto(f"{base_url}/admin/login/")
    page.fill("#id_username", "olive")
    page.fill("#id_password", "pw-olive-123!")
    page.click("input[type=submit]")
    page.goto(f"{base_url}/admin/accounts/spotifyaccount/")
    page.click("#connect-account")
    page.select_option("#id_app", str(app.pk))
    page.click("#connect-submit")
    page.click("a.open-authorize-url")
    page.wait_for_selector("#agree")


def test_staff_connects_an_account_in_the_browser_and_it_syncs(
    live_server: Any, browser_app: SpotifyApp, operator: User, spotify_emulator: SpotifyEmulator
) -> None:
    with chromium_page() as page:
        _login_and_open_link(page, live_server.url, browser_app)
        consent_scopes = page.inner_text("#scopes")
        page.fill("#user_id", "ana")
        page.fill("#display_name", "Ana Listener")
        page.click("#agree")
        page.wait_for_selector("#outcome-title")
        title, callback_url = page.inner_text("#outcome-title"), page.url
        page.goto(f"{live_server.url.replace('localhost', '127.0.0.1')}/admin/accounts/spotifyaccount/?q=ana")
        row = page.inner_text("#result_list")

    assert "playlist-modify-public" in consent_scopes
    assert title == "Account connected" and "/oauth/spotify/callback?" in callback_url
    assert "Ana Listener" in row and "OK" in row
    account = SpotifyAccount.objects.get(spotify_user_id="ana")
    assert account.health == SpotifyAccount.Health.OK
    # A real sync against the emulator with the tokens the flow stored.
    [playlist] = playlists_create(account=account, count=1, actor="test", policy=policy_get_default(), queue_sync=False)
    result = playlist_sync(playlist=playlist, actor="test")
    playlist.refresh_from_db()
    assert result["created"] is True and playlist.spotify_playlist_id
    assert spotify_emulator.playlist(playlist.spotify_playlist_id)["owner_id"] == "ana"


def test_cancel_on_the_consent_page_is_recorded_as_denied(live_server: Any, browser_app: SpotifyApp, operator: User) -> None:
    with chromium_page() as page:
        _login_and_open_link(page, live_server.url, browser_app)
        page.fill("#user_id", "ana")
        page.click("#cancel")
        page.wait_for_selector("#outcome-title")
        title = page.inner_text("#outcome-title")
    assert title == "Access not granted"
    assert AuthorizationRequest.objects.get().status == AuthorizationRequest.Status.DENIED
    assert not SpotifyAccount.objects.exists()


def test_a_reauth_required_account_is_reauthorized_and_its_next_sync_succeeds(
    oauth_app: SpotifyApp, make_account: Callable[..., SpotifyAccount], spotify_emulator: SpotifyEmulator
) -> None:
    from accounts.oauth import authorization_request_create
    from tests.fixtures_oauth import follow_link

    account = make_account("ana")
    [playlist] = playlists_create(account=account, count=1, actor="test", policy=policy_get_default(), queue_sync=False)
    spotify_emulator.revoke(account.refresh_token)
    SpotifyAccount.objects.filter(pk=account.pk).update(access_token="", token_expires_at=None)
    with pytest.raises(SpotifyInvalidGrant):
        playlist_sync(playlist=playlist, actor="test")
    account.refresh_from_db()
    assert account.health == SpotifyAccount.Health.REAUTH_REQUIRED
    assert playlist_sync(playlist=playlist, actor="test").get("skipped")

    link = authorization_request_create(app=oauth_app, account=account, actor="admin:olive")
    assert follow_link(link.authorize_url, user_id="ana").status_code == 200

    result = playlist_sync(playlist=playlist, actor="test")
    playlist.refresh_from_db()
    assert result["created"] is True and not result.get("skipped")
    assert playlist.sync_state == Playlist.SyncState.SYNCED
