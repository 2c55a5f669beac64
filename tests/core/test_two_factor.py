"""Two-factor for local logins (core.twofactor): who is asked, enrolment, codes right and wrong,
backup codes, the reset (admin and command line), and STAFF_2FA_REQUIRED off
(docs/runbooks/staff-access.md)."""

from __future__ import annotations

import base64
import logging
import re
from typing import Any

import pytest
import time_machine
from django.contrib.auth.backends import ModelBackend
from django.contrib.auth.models import User
from django.core.management import call_command
from django.test import Client
from django_otp.oath import totp
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from audit.models import AuditEvent
from tests.fixtures_clients import api_key_for

pytestmark = pytest.mark.django_db

LOGIN = "/admin/login/?next=/admin/"
VERIFY = "/admin/two-factor/verify/"
ENROLL = "/admin/two-factor/enroll/"
BACKUP_CODES = ["alpha2345", "bravo2345"]


@pytest.fixture(autouse=True)
def _required(settings: Any) -> None:
    settings.STAFF_2FA_REQUIRED = True
    settings.TRUSTED_PROXIES = []


def code_for(secret_b32: str, *, at: float | None = None) -> str:
    """What the person's authenticator app shows now for the secret the enrolment page gave."""
    key = base64.b32decode(secret_b32.replace(" ", ""))
    return f"{totp(key):06d}"


def enrolled(user: User) -> str:
    """A confirmed authenticator and two backup codes; returns the secret (base32)."""
    device = TOTPDevice.objects.create(user=user, name="authenticator", confirmed=True)
    backup = StaticDevice.objects.create(user=user, name="backup codes", confirmed=True)
    for token in BACKUP_CODES:
        StaticToken.objects.create(device=backup, token=token)
    return base64.b32encode(device.bin_key).decode()


def sign_in(username: str, password: str) -> Client:
    client = Client(REMOTE_ADDR="198.51.100.40")
    response = client.post(LOGIN, {"username": username, "password": password})
    assert response.status_code == 302, "the password is right"
    return client


def test_an_operator_without_a_device_enrols_after_the_password_and_gets_backup_codes(operator: User) -> None:
    with time_machine.travel("2026-05-01 09:00:00", tick=False) as traveller:
        client = sign_in("olive", "pw-olive-123!")
        response = client.get("/admin/")
        assert response.status_code == 302 and response["Location"] == f"{ENROLL}?next=%2Fadmin%2F"
        assert client.get("/admin/accounts/spotifyaccount/").status_code == 302, "nothing else until enrolled"
        page = client.get(ENROLL + "?next=/admin/").content.decode()
        uri = re.search(r'id="twofactor-uri">([^<]+)<', page).group(1)
        assert uri.startswith("otpauth://totp/opsconsole%3Aolive?secret=")
        secret = re.search(r'id="twofactor-secret">([^<]+)<', page).group(1)
        assert "<svg" in page, "a QR code for the phone"

        wrong = client.post(ENROLL, {"code": "000000", "next": "/admin/"})
        assert wrong.status_code == 400 and secret in wrong.content.decode(), "the same secret, asked again"
        traveller.shift(2)  # past the throttle of the wrong code
        done = client.post(ENROLL, {"code": code_for(secret), "next": "/admin/"})
        assert done.status_code == 200
        codes = re.findall(r"<li><code>([a-z0-9]+)</code></li>", done.content.decode())
        assert len(codes) == 10 and len(set(codes)) == 10
        assert client.get("/admin/").status_code == 200, "enrolled and verified: the admin opens"
        assert client.get(ENROLL).status_code == 302, "the secret is never shown again"

    event = AuditEvent.objects.get(action="twofactor.enroll", outcome="ok")
    assert event.actor == "admin:olive" and event.details == {"device": "totp", "backup_codes": 10}
    assert AuditEvent.objects.filter(action="twofactor.enroll", outcome="refused").count() == 1
    trail = " ".join(str(row) for row in AuditEvent.objects.values_list("details", "target_repr"))
    assert secret.replace(" ", "") not in trail.replace(" ", "") and not any(code in trail for code in codes)


def test_an_enrolled_superuser_needs_the_code_for_the_admin_and_the_session_api(superuser: User) -> None:
    secret = enrolled(superuser)
    client = sign_in("root", "pw-root-123!")
    response = client.get("/admin/accounts/spotifyaccount/?q=x")
    assert response.status_code == 302
    assert response["Location"] == f"{VERIFY}?next=%2Fadmin%2Faccounts%2Fspotifyaccount%2F%3Fq%3Dx"
    api = client.get("/api/v1/job-runs")
    assert api.status_code == 403 and "Two-factor verification required" in api.json()["detail"]

    verified = client.post(VERIFY, {"code": code_for(secret), "next": "/admin/accounts/spotifyaccount/?q=x"})
    assert verified.status_code == 302 and verified["Location"] == "/admin/accounts/spotifyaccount/?q=x"
    assert client.get("/admin/").status_code == 200
    assert client.get("/api/v1/job-runs").status_code == 200
    event = AuditEvent.objects.get(action="login.second_factor")
    assert (event.actor, event.outcome, event.details) == ("admin:root", "ok", {"kind": "totp"})


def test_a_wrong_code_is_refused_audited_and_backs_off(superuser: User) -> None:
    secret = enrolled(superuser)
    with time_machine.travel("2026-05-01 09:00:00", tick=False) as traveller:
        client = sign_in("root", "pw-root-123!")
        wrong = client.post(VERIFY, {"code": "123456", "next": "/admin/"})
        assert wrong.status_code == 400 and b"That code is not right" in wrong.content
        right_too_soon = client.post(VERIFY, {"code": code_for(secret), "next": "/admin/"})
        assert right_too_soon.status_code == 429 and right_too_soon["Retry-After"] == "1"
        assert client.get("/admin/").status_code == 302, "still not verified"
        traveller.shift(3)
        assert client.post(VERIFY, {"code": code_for(secret), "next": "/admin/"}).status_code == 302
        assert client.get("/admin/").status_code == 200
    refused = list(AuditEvent.objects.filter(action="login.second_factor", outcome="refused").order_by("id"))
    assert [event.details["reason"] for event in refused] == ["wrong_code", "throttled"]
    assert all(event.actor == "admin:root" and "123456" not in str(event.details) for event in refused)


def test_a_backup_code_signs_in_once(superuser: User) -> None:
    enrolled(superuser)
    client = sign_in("root", "pw-root-123!")
    assert client.post(VERIFY, {"code": "ALPHA 2345", "next": "/admin/"}).status_code == 302
    assert client.get("/admin/").status_code == 200
    assert AuditEvent.objects.get(action="login.second_factor").details == {"kind": "backup_code"}

    again = sign_in("root", "pw-root-123!")
    assert again.post(VERIFY, {"code": "alpha2345", "next": "/admin/"}).status_code == 400, "used up"
    assert StaticToken.objects.filter(device__user=superuser).count() == 1


def test_an_admin_resets_a_users_devices_audited_and_they_enrol_again(superuser: User, operator: User) -> None:
    root_secret = enrolled(superuser)
    olive_secret = enrolled(operator)
    olive = sign_in("olive", "pw-olive-123!")
    assert olive.post(VERIFY, {"code": code_for(olive_secret), "next": "/admin/"}).status_code == 302
    assert olive.get("/admin/").status_code == 200

    root = sign_in("root", "pw-root-123!")
    assert root.post(VERIFY, {"code": code_for(root_secret), "next": "/admin/"}).status_code == 302
    users = root.get("/admin/auth/user/")
    assert users.status_code == 200 and b"Two-factor" in users.content
    done = root.post(
        "/admin/auth/user/", {"action": "reset_two_factor", "_selected_action": [operator.pk], "index": "0"}, follow=True
    )
    assert "Two-factor reset for 1 user." in [str(m) for m in done.context["messages"]]
    assert not TOTPDevice.objects.filter(user=operator).exists() and not StaticDevice.objects.filter(user=operator).exists()
    event = AuditEvent.objects.get(action="twofactor.reset")
    assert (event.actor, event.target_repr, event.details) == ("admin:root", "olive", {"devices_removed": 2})

    # Olive's verified session lost its second factor: enrolment, before anything else.
    response = olive.get("/admin/")
    assert response.status_code == 302 and response["Location"].startswith(ENROLL)


def test_the_break_glass_command_resets_a_users_devices_audited(superuser: User) -> None:
    enrolled(superuser)
    call_command("reset_two_factor", "root")
    assert not TOTPDevice.objects.filter(user=superuser).exists()
    event = AuditEvent.objects.get(action="twofactor.reset")
    assert event.actor.startswith("cli:") and event.target_repr == "root" and event.details == {"devices_removed": 2}
    client = sign_in("root", "pw-root-123!")
    assert client.get("/admin/")["Location"].startswith(ENROLL), "the next sign-in enrols afresh"


def test_with_staff_2fa_required_off_a_superuser_signs_in_with_the_password_alone(settings: Any, superuser: User) -> None:
    settings.STAFF_2FA_REQUIRED = False
    client = sign_in("root", "pw-root-123!")
    assert client.get("/admin/").status_code == 200
    assert client.get("/api/v1/job-runs").status_code == 200


def test_a_viewer_is_not_asked_unless_they_enrolled(viewer: User) -> None:
    client = sign_in("victor", "pw-victor-123!")
    assert client.get("/admin/").status_code == 200
    enrolled(viewer)
    assert sign_in("victor", "pw-victor-123!").get("/admin/").status_code == 302, "enrolled: asked at the next sign-in"


def test_api_tokens_are_not_asked_for_a_code(superuser: User) -> None:
    enrolled(superuser)
    key = api_key_for(superuser)
    assert Client(HTTP_AUTHORIZATION=f"Token {key}").get("/api/v1/job-runs").status_code == 200


def test_the_key_and_backup_codes_never_reach_a_log_line_an_audit_row_or_another_page(
    caplog: pytest.LogCaptureFixture, superuser: User, operator: User
) -> None:
    caplog.set_level(logging.DEBUG)
    with time_machine.travel("2026-05-01 09:00:00", tick=False) as traveller:
        olive = sign_in("olive", "pw-olive-123!")
        page = olive.get(ENROLL).content.decode()
        secret = re.search(r'id="twofactor-secret">([^<]+)<', page).group(1).replace(" ", "")
        traveller.shift(1)
        codes = re.findall(r"<li><code>([a-z0-9]+)</code></li>", olive.post(ENROLL, {"code": code_for(secret)}).content.decode())
        assert sign_in("olive", "pw-olive-123!").post(VERIFY, {"code": codes[0]}).status_code == 302
        hex_key = TOTPDevice.objects.get(user=operator).key
        root = sign_in("root", "pw-root-123!")
        root.get(ENROLL)
        assert root.post(ENROLL, {"code": "000000"}).status_code == 400  # refused: a row, no code in it
        traveller.shift(2)
        root_secret = enrolled(superuser)
        root = sign_in("root", "pw-root-123!")
        assert root.post(VERIFY, {"code": code_for(root_secret)}).status_code == 302
        shown = [
            root.get(path).content.decode()
            for path in ("/admin/auth/user/", f"/admin/auth/user/{operator.pk}/change/", "/admin/audit/auditevent/")
        ]
        shown.append(root.get("/api/v1/audit").content.decode())
    secrets = [secret, hex_key, *codes]
    trail = " ".join(str(row) for row in AuditEvent.objects.values_list("details", "target_repr", "action"))
    for value in secrets:
        assert value not in caplog.text, "a secret reached a log line"
        assert value not in trail, "a secret is in the audit trail"
        assert all(value not in text for text in shown), "a secret is on an admin page or in an API answer"


@pytest.mark.parametrize("required, says", [(False, "off for the demo"), (True, "set up an authenticator app")])
def test_the_demo_banner_says_whether_two_factor_is_asked(required: bool, says: str) -> None:
    from devstack.demo import banner

    text = banner(port=8000, emulator_port=9000, username="admin", password="pw", connect_url="u", mail="m", two_factor=required)
    line = next(line for line in text.splitlines() if "Two-factor" in line)
    assert says in line and "admin / pw" in text


def test_a_single_sign_on_session_is_not_asked_for_a_code(superuser: User, settings: Any) -> None:
    settings.AUTHENTICATION_BACKENDS = [*settings.AUTHENTICATION_BACKENDS, "tests.core.test_two_factor.ElsewhereBackend"]
    enrolled(superuser)
    client = Client()
    client.force_login(superuser, backend="tests.core.test_two_factor.ElsewhereBackend")
    assert client.get("/admin/").status_code == 200, "the identity provider did the second factor"
    local = Client()
    local.force_login(superuser)
    assert local.get("/admin/").status_code == 302


class ElsewhereBackend(ModelBackend):
    """Stands for a single sign-on backend (another module's)."""
