"""Staff access: the login lockout (admin and API), its audit rows and clearing, the session
idle timeout, the environment banner (docs/runbooks/staff-access.md)."""

from __future__ import annotations

import pytest
import time_machine
from axes.models import AccessAttempt
from django.contrib.auth.models import User
from django.core.management import call_command
from django.test import Client

from audit.models import AuditEvent
from tests.fixtures_clients import api_key_for, client_for

pytestmark = pytest.mark.django_db

LOGIN = "/admin/login/?next=/admin/"


@pytest.fixture(autouse=True)
def _limits(settings) -> None:  # type: ignore[no-untyped-def]
    settings.LOGIN_FAILURE_LIMIT = settings.AXES_FAILURE_LIMIT = 5
    settings.TRUSTED_PROXIES = []


def _login(username: str, password: str, *, address: str = "198.51.100.7") -> tuple[Client, object]:
    client = Client(REMOTE_ADDR=address)
    return client, client.post(LOGIN, {"username": username, "password": password})


def _fail(times: int, username: str, *, address: str = "198.51.100.7") -> None:
    for _ in range(times):
        _, response = _login(username, "wrong-password", address=address)


def test_the_right_password_is_refused_after_five_wrong_ones(superuser: User) -> None:
    _fail(4, "root")
    client, response = _login("root", "pw-root-123!")
    assert response.status_code == 302, "four failures: the right password still signs in"
    _fail(1, "root", address="198.51.100.8")
    _fail(5, "root")
    client, response = _login("root", "pw-root-123!")
    assert response.status_code == 429
    assert int(response["Retry-After"]) == 15 * 60
    assert b"Sign-in paused" in response.content and b"root" not in response.content
    assert "_auth_user_id" not in client.session


def test_an_unknown_user_gets_the_same_answer_as_a_real_one(superuser: User) -> None:
    _fail(5, "root", address="198.51.100.7")
    _fail(5, "nobody-here", address="198.51.100.9")
    _, real = _login("root", "pw-root-123!", address="198.51.100.7")
    _, unknown = _login("nobody-here", "pw-root-123!", address="198.51.100.9")
    assert (real.status_code, real["Retry-After"]) == (unknown.status_code, unknown["Retry-After"]) == (429, "900")
    assert real.content == unknown.content


def test_a_locked_out_address_is_refused_for_every_username(superuser: User) -> None:
    for name in ("a", "b", "c", "d", "e"):
        _fail(1, name)
    _, response = _login("root", "pw-root-123!")
    assert response.status_code == 429
    _, elsewhere = _login("root", "pw-root-123!", address="203.0.113.50")
    assert elsewhere.status_code == 302, "root itself is not locked out: only the address is"


def test_the_address_is_the_one_trusted_proxies_vouch_for(settings, superuser: User) -> None:  # type: ignore[no-untyped-def]
    settings.TRUSTED_PROXIES = ["10.0.0.0/8"]
    for name in ("a", "b", "c", "d", "e"):
        client = Client(REMOTE_ADDR="10.0.0.2", HTTP_X_FORWARDED_FOR="192.0.2.1, 203.0.113.9")
        client.post(LOGIN, {"username": name, "password": "nope"})
    assert set(AccessAttempt.objects.values_list("ip_address", flat=True)) == {"203.0.113.9"}
    other_client = Client(REMOTE_ADDR="10.0.0.2", HTTP_X_FORWARDED_FOR="203.0.113.10")
    assert other_client.post(LOGIN, {"username": "root", "password": "pw-root-123!"}).status_code == 302


def test_the_lockout_is_audited_once(superuser: User) -> None:
    _fail(7, "root")
    events = AuditEvent.objects.filter(action="login.locked_out")
    assert events.count() == 1
    event = events.get()
    assert event.actor == "admin:root" and event.details["ip_address"] == "198.51.100.7"
    assert event.details["failures"] == 5


def test_clearing_a_lockout_lets_the_user_in_and_is_audited(superuser: User) -> None:
    _fail(5, "root")
    call_command("clear_lockout", username="root", ip_address="198.51.100.7")
    _, response = _login("root", "pw-root-123!")
    assert response.status_code == 302
    event = AuditEvent.objects.get(action="login.lockout_clear")
    assert event.actor.startswith("cli:") and event.details["username"] == "root" and event.details["records"] >= 1


def test_the_admin_lists_lockouts_and_clears_one_audited(superuser: User) -> None:
    _fail(5, "olive")
    admin = client_for(superuser)
    page = admin.get("/admin/axes/accessattempt/")
    assert page.status_code == 200 and b"olive" in page.content
    home = admin.get("/admin/").content.decode()
    assert home.index("Users and access") < home.index("/admin/axes/accessattempt/")
    attempt = AccessAttempt.objects.get(username="olive")
    response = admin.post(
        "/admin/axes/accessattempt/", {"action": "clear_lockout", "_selected_action": [attempt.pk]}, follow=True
    )
    assert b"Cleared 1 lockout record." in response.content
    assert not AccessAttempt.objects.exists()
    assert AuditEvent.objects.get(action="login.lockout_clear").actor == "admin:root"


def test_signing_in_many_times_with_the_right_password_never_locks_out(superuser: User) -> None:
    for _ in range(12):
        _, response = _login("root", "pw-root-123!")
        assert response.status_code == 302
    assert not AccessAttempt.objects.exists()


def test_wrong_api_tokens_from_one_address_end_in_429_with_retry_after(superuser: User) -> None:
    guesser = Client(REMOTE_ADDR="198.51.100.20", HTTP_AUTHORIZATION="Bearer not-a-token")
    answers = [guesser.get("/api/v1/job-runs").status_code for _ in range(5)]
    assert answers == [403, 403, 403, 403, 429]
    locked = guesser.get("/api/v1/job-runs")
    assert locked.status_code == 429 and locked["Retry-After"] == "900"
    assert "Too many failed sign-in attempts" in locked.json()["detail"]
    key = api_key_for(superuser)
    same_address = Client(REMOTE_ADDR="198.51.100.20", HTTP_AUTHORIZATION=f"Token {key}")
    assert same_address.get("/api/v1/job-runs").status_code == 429, "the address is locked, whatever the token"
    elsewhere = Client(REMOTE_ADDR="198.51.100.21", HTTP_AUTHORIZATION=f"Token {key}")
    assert elsewhere.get("/api/v1/job-runs").status_code == 200
    event = AuditEvent.objects.get(action="login.locked_out")
    assert event.actor == "api:198.51.100.20" and event.door == "api"


def test_the_api_lockout_ends_after_the_lockout_minutes(superuser: User) -> None:
    key = api_key_for(superuser)
    with time_machine.travel("2026-05-01 12:00:00", tick=False) as traveller:
        guesser = Client(REMOTE_ADDR="198.51.100.30", HTTP_AUTHORIZATION="Token wrong")
        for _ in range(5):
            guesser.get("/api/v1/job-runs")
        valid = Client(REMOTE_ADDR="198.51.100.30", HTTP_AUTHORIZATION=f"Token {key}")
        assert valid.get("/api/v1/job-runs").status_code == 429
        traveller.shift(16 * 60)
        assert valid.get("/api/v1/job-runs").status_code == 200


def test_a_staff_session_ends_after_the_idle_minutes(settings, superuser: User) -> None:  # type: ignore[no-untyped-def]
    settings.SESSION_IDLE_MINUTES = 30
    with time_machine.travel("2026-05-01 09:00:00", tick=False) as traveller:
        client, response = _login("root", "pw-root-123!")
        assert client.get("/admin/").status_code == 200
        traveller.shift(20 * 60)
        assert client.get("/admin/").status_code == 200, "20 minutes idle: still signed in"
        traveller.shift(31 * 60)
        response = client.get("/admin/")
        assert response.status_code == 302 and "/admin/login/" in response["Location"]
        assert "_auth_user_id" not in client.session


def test_a_staff_session_ends_after_its_lifetime_however_busy(settings, superuser: User) -> None:  # type: ignore[no-untyped-def]
    settings.SESSION_COOKIE_AGE = 8 * 3600
    with time_machine.travel("2026-05-01 09:00:00", tick=False) as traveller:
        client, _ = _login("root", "pw-root-123!")
        for _ in range(8 * 4):
            assert client.get("/admin/").status_code == 200
            traveller.shift(15 * 60)
        assert client.get("/admin/").status_code == 302


@pytest.mark.parametrize(
    "environment, css", [("production", "ops-environment-production"), ("staging", "ops-environment-staging")]
)
def test_every_admin_page_shows_the_environment(settings, superuser: User, environment: str, css: str) -> None:  # type: ignore[no-untyped-def]
    settings.OPSCONSOLE_ENVIRONMENT = environment
    for page in (client_for(superuser).get("/admin/"), Client().get(LOGIN), client_for(superuser).get("/admin/auth/user/")):
        html = page.content.decode()
        assert f'<div id="ops-environment" class="{css}"' in html and environment in html


def test_the_demo_and_tests_say_development() -> None:
    from django.conf import settings

    assert settings.OPSCONSOLE_ENVIRONMENT == "development"
