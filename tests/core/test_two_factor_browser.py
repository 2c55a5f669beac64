"""Two-factor in a real browser (Debian's chromium through Playwright): an operator enrols at the
first sign-in, signs out, and signs in again with a TOTP code the test computes from the key the
enrolment page showed."""

from __future__ import annotations

import base64
import shutil
import time
from typing import Any

import pytest
from django.contrib.auth.models import User
from django_otp.oath import TOTP
from playwright.sync_api import sync_playwright

from audit.models import AuditEvent

pytestmark = [pytest.mark.browser, pytest.mark.slow]

CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-sync", "--no-first-run"]


def code_for(secret: str, *, steps_ahead: int = 0) -> str:
    """The authenticator app's code; `steps_ahead` 1 is the next 30 s step's (a used step is not
    accepted twice, and the console allows one step of clock drift)."""
    totp = TOTP(base64.b32decode(secret.replace(" ", "")))
    totp.time = time.time() + 30 * steps_ahead
    return f"{totp.token():06d}"


def test_an_operator_enrols_signs_out_and_signs_in_with_a_code(live_server: Any, operator: User, settings: Any) -> None:
    settings.STAFF_2FA_REQUIRED = True
    base = live_server.url.replace("localhost", "127.0.0.1")
    chromium = shutil.which("chromium")
    assert chromium, "Debian's chromium is required: make browser"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page()
            page.goto(f"{base}/admin/login/?next=/admin/")
            page.fill("#id_username", "olive")
            page.fill("#id_password", "pw-olive-123!")
            page.click("input[type=submit]")
            page.wait_for_selector("#twofactor-enroll-form")
            assert "/admin/two-factor/enroll/" in page.url
            assert page.inner_text("#twofactor-uri").startswith("otpauth://totp/")
            secret = page.inner_text("#twofactor-secret")
            page.fill("#id_code", code_for(secret))
            page.click("#twofactor-enroll-form input[type=submit]")
            page.wait_for_selector("#backup-codes")
            assert len(page.query_selector_all("#backup-codes li")) == 10
            page.click("#twofactor-continue")
            page.wait_for_selector("#content-main")
            assert page.url == f"{base}/admin/"

            page.click("#logout-form button[type=submit]")
            page.wait_for_selector("text=Log in again")

            page.goto(f"{base}/admin/login/?next=/admin/")
            page.fill("#id_username", "olive")
            page.fill("#id_password", "pw-olive-123!")
            page.click("input[type=submit]")
            page.wait_for_selector("#twofactor-verify-form")
            page.goto(f"{base}/admin/jobs/jobrun/")
            assert "/admin/two-factor/verify/" in page.url, "no page before the code"
            page.fill("#id_code", code_for(secret, steps_ahead=1))
            page.click("#twofactor-verify-form input[type=submit]")
            page.wait_for_url(f"{base}/admin/jobs/jobrun/")
        finally:
            browser.close()
    assert list(AuditEvent.objects.filter(actor="admin:olive").order_by("id").values_list("action", "outcome")) == [
        ("twofactor.enroll", "ok"),
        ("login.second_factor", "ok"),
    ]
