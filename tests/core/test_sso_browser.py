"""Single sign-on in a real browser (Debian's chromium through Playwright) against the live server
and a real OpenID provider process on loopback (tests/fixtures_oidc.py)."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import time_machine
from django.contrib.auth.models import User
from playwright.sync_api import Page, sync_playwright

from core.models import ExternalIdentity
from tests.fixtures_oidc import OpenIdProvider

pytestmark = [pytest.mark.browser, pytest.mark.slow]

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


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


@pytest.fixture
def base_url(live_server: Any) -> str:
    return str(live_server.url).replace("localhost", "127.0.0.1")


@pytest.fixture
def provider(base_url: str, openid_provider_factory: Any, settings: Any) -> OpenIdProvider:
    """The provider with the live server's callback registered, and the console pointed at it."""
    openid_provider: OpenIdProvider = openid_provider_factory([f"{base_url}/oidc/callback/"])
    for name, value in openid_provider.console_settings().items():
        setattr(settings, name, value)
    return openid_provider


def _sign_in(page: Page, base_url: str, username: str) -> None:
    page.goto(f"{base_url}/admin/login/?next=/admin/")
    page.click("#sso-login-button")
    page.wait_for_selector("#op-username")
    page.fill("#op-username", username)
    page.fill("#op-password", f"pw-{username}")
    page.click("#op-submit")
    page.wait_for_url(f"{base_url}/admin/")


def test_a_viewer_signs_in_with_sso_and_sees_no_operator_actions(base_url: str, provider: OpenIdProvider) -> None:
    provider.user_put("vera", password="pw-vera", email="vera@corp.example", groups=["opsconsole-viewers"])
    requested: list[str] = []
    with chromium_page() as page:
        page.on("request", lambda request: requested.append(request.url))
        _sign_in(page, base_url, "vera")
        header = page.inner_text("#user-tools")
        sources = page.goto(f"{base_url}/admin/ingest/albumsource/")
        add_links = page.locator(".object-tools a.addlink").count()
        add_page = page.goto(f"{base_url}/admin/ingest/albumsource/add/")

        callback = next(url for url in requested if url.startswith(f"{base_url}/oidc/callback/?"))
        replayed = page.goto(callback)
        replayed_text = page.inner_text("#sso-error")
        forged = page.goto(f"{base_url}/oidc/callback/?code=made-up&state=forged")
        forged_text = page.inner_text("#sso-error")

    authorize = next(url for url in requested if url.startswith(f"{provider.issuer}/authorize"))
    query = parse_qs(urlsplit(authorize).query)
    assert query["code_challenge_method"] == ["S256"] and query["code_challenge"][0]
    user = User.objects.get(external_identities__issuer=provider.issuer)
    assert user.username in header.lower() or "welcome" in header.lower()
    assert sources is not None and sources.status == 200 and add_links == 0
    assert add_page is not None and add_page.status == 403
    assert list(user.groups.values_list("name", flat=True)) == ["viewers"]
    assert replayed is not None and replayed.status == 400 and "already used" in replayed_text
    assert forged is not None and forged.status == 400 and "Not signed in" in forged_text


def test_the_claim_removed_at_the_provider_ends_access_at_the_next_check(
    base_url: str, provider: OpenIdProvider, settings: Any
) -> None:
    settings.OIDC_RENEW_ID_TOKEN_EXPIRY_SECONDS = 60
    provider.user_put("olga", password="pw-olga", email="olga@corp.example", groups=["opsconsole-operators"])
    # The console's clock (the live server runs in this process) moves on; the browser's and the
    # provider's need not: the provider's tokens are only older, never from the future.
    with chromium_page() as page, time_machine.travel(datetime.now(UTC), tick=True) as clock:
        _sign_in(page, base_url, "olga")
        page.goto(f"{base_url}/admin/ingest/albumsource/")
        operator_links = page.locator(".object-tools a.addlink").count()

        # The check falls due: a silent round trip to the provider, and the page as asked for.
        clock.shift(61)
        page.goto(f"{base_url}/admin/ingest/albumsource/")
        rechecked_url = page.url
        still_operator_links = page.locator(".object-tools a.addlink").count()

        provider.user_put("olga", groups=["someone-elses-team"])
        clock.shift(61)
        refused = page.goto(f"{base_url}/admin/ingest/albumsource/")
        refused_text = page.inner_text("#sso-error")
        page.goto(f"{base_url}/admin/")
        after_url = page.url

    assert operator_links >= 1
    assert rechecked_url == f"{base_url}/admin/ingest/albumsource/" and still_operator_links == operator_links
    assert refused is not None and refused.status == 403 and "no role in this console" in refused_text
    assert "/admin/login/" in after_url
    olga = ExternalIdentity.objects.select_related("user").get(issuer=provider.issuer).user
    assert not olga.is_staff and not olga.groups.exists()
