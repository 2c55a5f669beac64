"""The operations home and the live dashboard in a real browser (Debian's chromium through
Playwright) against live_server: the home page's order, a panel refreshing in place after a
change in the database, pausing while hidden, and the display time zone."""

from __future__ import annotations

import shutil

import pytest
from django.contrib.auth.models import User
from django.utils import timezone
from playwright.sync_api import Page, sync_playwright

from core.models import UserPreference
from ingest.models import DeadLetter
from tests.metrics.test_dashboard_browser import CHROMIUM_ARGS

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.usefixtures("short_probe_timeouts")]

DASHBOARD = "/admin/metrics/metricsnapshot/dashboard/"
WAIT_MS = 30_000


def _login(page: Page, base_url: str) -> None:
    page.goto(f"{base_url}/admin/login/")
    page.fill("#id_username", "root")
    page.fill("#id_password", "pw-root-123!")
    page.click("input[type=submit]")
    page.wait_for_selector("#operations-dashboard")


def _dead_letter() -> DeadLetter:
    now = timezone.now()
    return DeadLetter.objects.create(
        source_service="spotify.albums",
        operation="albums",
        error_type="SpotifyServerError",
        error_message="503 from albums",
        payload={"ids": ["x"]},
        fingerprint="live-dashboard-test",
        first_seen=now,
        last_seen=now,
    )


def test_operator_home_live_dashboard_and_display_time_zone(live_server, superuser: User, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    # The test writes to the database while Playwright's sync API runs its event loop in this thread.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    chromium = shutil.which("chromium")
    assert chromium, "Debian's chromium is required: make browser"

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            _login(page, live_server.url)
            sections = [text.strip() for text in page.locator("#content-main caption a.section").all_text_contents()]
            first_entry = page.locator("#content-main th[scope=row]").first.text_content() or ""
            advanced_open = page.evaluate("document.getElementById('advanced-section').open")
            header = page.inner_text("#site-name")

            page.click("#ops-dashboard-nav")
            page.wait_for_selector("body[data-refreshes='0']")
            default_interval = page.get_attribute("#ops-live", "data-refresh-seconds")

            page.goto(f"{live_server.url}{DASHBOARD}?refresh=1")
            page.evaluate("window.notReloaded = true")
            before = page.inner_text("#dead-letter-depth")
            page.wait_for_function("Number(document.body.dataset.refreshes) >= 1", timeout=WAIT_MS)
            quiet = page.evaluate("document.querySelectorAll('.ops-panel.ops-changed').length")

            _dead_letter()
            page.wait_for_function("document.getElementById('dead-letter-depth').textContent.trim() === '1'", timeout=WAIT_MS)
            still_same_page = page.evaluate("window.notReloaded === true")
            dead_letters_changed = page.evaluate(
                "document.getElementById('panel-dead-letters').classList.contains('ops-changed')"
            )
            accounts_changed = page.evaluate("document.getElementById('panel-accounts').classList.contains('ops-changed')")
            oldest_title = page.get_attribute("#panel-dead-letters time.ops-reltime", "title")
            oldest_text = page.inner_text("#panel-dead-letters time.ops-reltime")
            live_state = page.inner_text("#ops-live-state")

            # A hidden tab stops asking the server.
            page.evaluate(
                "Object.defineProperty(document, 'hidden', {value: true, configurable: true});"
                "document.dispatchEvent(new Event('visibilitychange'))"
            )
            paused_state = page.inner_text("#ops-live-state")

            # The display time zone: chosen from the header, used for the absolute times on hover.
            page.goto(f"{live_server.url}{DASHBOARD}")
            page.click("#display-time-zone")
            page.select_option("#id_time_zone", "Asia/Tokyo")
            page.click("#preferences-form input[type=submit]")
            page.wait_for_selector("#ops-live")
            tokyo_title = page.get_attribute("#ops-updated time", "title")
            header_zone = page.text_content("#display-time-zone")
        finally:
            browser.close()

    assert header == "opsconsole"
    assert sections[:7] == [
        "Operations",
        "Accounts and apps",
        "Playlists",
        "Catalog and ingest",
        "Jobs and job runs",
        "Alerts",
        "Dead letters",
    ]
    assert first_entry.strip() == "Operations dashboard"
    assert advanced_open is False
    assert default_interval == "30"

    assert before.strip() == "0"
    assert quiet == 0
    assert still_same_page
    assert dead_letters_changed and not accounts_changed
    assert "changed" in live_state
    assert oldest_title and oldest_title.endswith("UTC")
    assert "ago" in oldest_text or oldest_text == "just now"
    assert "paused" in paused_state

    assert UserPreference.objects.get(user=superuser).time_zone == "Asia/Tokyo"
    assert tokyo_title and tokyo_title.endswith("JST")
    assert header_zone == "Asia/Tokyo"
