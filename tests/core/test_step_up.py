"""Step-up before destructive actions (core.stepup): every admin action marked destructive asks
for the password again once the last authentication is older than STEP_UP_MINUTES; after it the
action carries on (its confirmation asked afresh), audited; session API calls of destructive
endpoints get 403 JSON, tokens are not asked (docs/runbooks/staff-access.md)."""

from __future__ import annotations

import re
import uuid
from typing import Any

import pytest
import time_machine
from django.apps import apps
from django.contrib import admin
from django.contrib.auth.models import User
from django.db import models
from django.test import Client, RequestFactory
from django.urls import URLResolver, get_resolver, reverse
from django_otp.oath import totp
from django_otp.plugins.otp_totp.models import TOTPDevice

from alerts.models import NotificationChannel
from audit.models import AuditEvent
from core.stepup import DestructiveEndpoint, is_destructive
from ingest.models import DeadLetter
from ingest.services import dead_letter_record
from tests.fixtures_clients import api_key_for

pytestmark = pytest.mark.django_db

LOGIN = "/admin/login/?next=/admin/"
PURGE_URL = "/admin/ingest/deadletter/"
# What the issue names destructive, by (app, model, action): each must carry @destructive.
MUST_STEP_UP = {
    ("accounts", "spotifyaccount", "deactivate"),
    ("playlists", "playlist", "retire"),
    ("ingest", "deadletter", "purge"),
    ("ingest", "deadletter", "delete_selected"),
    ("jobs", "jobrun", "terminate"),
    ("jobs", "jobrun", "revoke"),
    ("accounts", "authorizationrequest", "revoke"),
    ("auth", "user", "reset_two_factor"),
    ("auth", "user", "delete_selected"),
    ("opsconsole", "apitoken", "revoke"),
}


@pytest.fixture(autouse=True)
def _minutes(settings: Any) -> None:
    settings.STEP_UP_MINUTES = 10
    settings.SESSION_IDLE_MINUTES = 30
    settings.TRUSTED_PROXIES = []


def sign_in(username: str, password: str) -> Client:
    client = Client(REMOTE_ADDR="198.51.100.60")
    assert client.post(LOGIN, {"username": username, "password": password}).status_code == 302
    return client


def _letters(count: int) -> list[DeadLetter]:
    return [
        dead_letter_record(
            source_service="spotify.albums", operation="fetch_audio_features", error_type="server_error",
            error_message=f"boom {i}", payload={"i": i},
        )
        for i in range(count)
    ]


def _destructive_actions(user: User) -> list[tuple[str, str, str]]:
    request = RequestFactory().get("/admin/")
    request.user = user
    found = []
    for model, model_admin in admin.site._registry.items():
        for name, (func, _, _) in model_admin.get_actions(request).items():
            if is_destructive(func):
                found.append((model._meta.app_label, model._meta.model_name, name))
    return sorted(found)


def test_every_destructive_admin_action_asks_for_a_step_up_when_the_sign_in_is_old(superuser: User) -> None:
    marked = _destructive_actions(superuser)
    assert set(marked) >= MUST_STEP_UP, f"not marked @destructive: {MUST_STEP_UP - set(marked)}"
    with time_machine.travel("2026-05-01 09:00:00", tick=False) as traveller:
        client = sign_in("root", "pw-root-123!")
        traveller.shift(11 * 60)
        for app_label, model_name, action in marked:
            url = reverse(f"admin:{app_label}_{model_name}_changelist")
            # A selection is needed for Django to call the action; no row needs to exist.
            pk_field = apps.get_model(app_label, model_name)._meta.pk
            nobody = str(uuid.uuid4()) if isinstance(pk_field, models.UUIDField) else "987654321"
            response = client.post(url, {"action": action, "_selected_action": [nobody], "index": "0"})
            assert response.status_code == 200, (app_label, model_name, action)
            assert b'id="step-up-form"' in response.content, f"{app_label}.{model_name} {action} ran without a step-up"


def test_a_stale_sign_in_is_asked_again_then_sees_the_confirmation_and_purges(superuser: User) -> None:
    ids = [letter.pk for letter in _letters(2)]
    with time_machine.travel("2026-05-01 09:00:00", tick=False) as traveller:
        client = sign_in("root", "pw-root-123!")
        traveller.shift(11 * 60)
        step_up = client.post(PURGE_URL, {"action": "purge", "_selected_action": ids, "index": "0"})
        assert step_up.status_code == 200 and b'id="step-up-form"' in step_up.content
        assert b"Purge selected dead letters" in step_up.content and b"2 dead letters" in step_up.content
        carried = {"action": "purge", "_selected_action": ids, "index": "0", "_step_up": "1"}

        wrong = client.post(PURGE_URL, {**carried, "_step_up_password": "not-it"})
        assert wrong.status_code == 403 and b"That password is not right." in wrong.content

        confirm = client.post(PURGE_URL, {**carried, "_step_up_password": "pw-root-123!"})
        assert confirm.status_code == 200 and b"Purge dead letters?" in confirm.content, "then the action's own confirmation"
        assert DeadLetter.objects.filter(status="purged").count() == 0

        done = client.post(PURGE_URL, {"action": "purge", "_selected_action": ids, "confirmed": "yes"}, follow=True)
        assert "2 dead letters purged." in [str(m) for m in done.context["messages"]]

    steps = list(AuditEvent.objects.filter(action="auth.step_up").order_by("id"))
    assert [(e.outcome, e.details) for e in steps] == [
        ("refused", {"for_action": "purge", "reason": "password"}),
        ("ok", {"for_action": "purge"}),
    ]
    assert all(e.actor == "admin:root" and "pw-root" not in str(e.details) for e in steps)


def test_an_answered_confirmation_from_before_the_step_up_is_asked_again(superuser: User) -> None:
    ids = [letter.pk for letter in _letters(1)]
    with time_machine.travel("2026-05-01 09:00:00", tick=False) as traveller:
        client = sign_in("root", "pw-root-123!")
        traveller.shift(11 * 60)
        stale_yes = {"action": "purge", "_selected_action": ids, "confirmed": "yes"}
        step_up = client.post(PURGE_URL, stale_yes)
        assert b'id="step-up-form"' in step_up.content
        again = client.post(PURGE_URL, {**stale_yes, "_step_up": "1", "_step_up_password": "pw-root-123!"})
        assert b"Purge dead letters?" in again.content
        assert DeadLetter.objects.get().status == "pending"


def test_a_recent_sign_in_goes_straight_to_the_confirmation(superuser: User) -> None:
    ids = [letter.pk for letter in _letters(1)]
    with time_machine.travel("2026-05-01 09:00:00", tick=False) as traveller:
        client = sign_in("root", "pw-root-123!")
        traveller.shift(9 * 60)
        response = client.post(PURGE_URL, {"action": "purge", "_selected_action": ids, "index": "0"})
        assert b"Purge dead letters?" in response.content and b"step-up-form" not in response.content


def test_with_two_factor_the_step_up_needs_the_code_too(settings: Any, superuser: User) -> None:
    settings.STAFF_2FA_REQUIRED = True
    device = TOTPDevice.objects.create(user=superuser, name="authenticator", confirmed=True)
    ids = [letter.pk for letter in _letters(1)]
    with time_machine.travel("2026-05-01 09:00:00", tick=False) as traveller:
        client = sign_in("root", "pw-root-123!")
        assert client.post("/admin/two-factor/verify/", {"code": f"{totp(device.bin_key):06d}"}).status_code == 302
        traveller.shift(11 * 60)
        step_up = client.post(PURGE_URL, {"action": "purge", "_selected_action": ids, "index": "0"})
        assert b'name="_step_up_code"' in step_up.content
        carried = {"action": "purge", "_selected_action": ids, "index": "0", "_step_up": "1", "_step_up_password": "pw-root-123!"}
        no_code = client.post(PURGE_URL, carried)
        assert no_code.status_code == 403 and b"That code is not right" in no_code.content
        traveller.shift(5)
        code = f"{totp(device.bin_key):06d}"
        confirm = client.post(PURGE_URL, {**carried, "_step_up_code": code})
        assert b"Purge dead letters?" in confirm.content
    assert list(AuditEvent.objects.filter(action="auth.step_up").values_list("outcome", flat=True).order_by("id")) == [
        "refused",
        "ok",
    ]


def test_a_session_api_call_of_a_destructive_endpoint_needs_a_recent_sign_in_a_token_does_not(superuser: User) -> None:
    _letters(1)
    key = api_key_for(superuser)
    url = "/api/v1/dlq/messages/before/2030-01-01"
    with time_machine.travel("2026-05-01 09:00:00", tick=False) as traveller:
        browser = sign_in("root", "pw-root-123!")
        assert browser.get("/api/v1/dlq/messages").status_code == 200, "reading is never asked"
        traveller.shift(11 * 60)
        refused = browser.delete(url)
        assert refused.status_code == 403
        assert refused.json()["detail"] == "Re-authentication required: this action needs a sign-in within the last 10 minutes."
        assert DeadLetter.objects.get().status == "pending"
        token = Client(HTTP_AUTHORIZATION=f"Token {key}")
        assert token.delete(url).json()["purged_count"] == 1


def _destructive_endpoints() -> list[tuple[str, str]]:
    """(method, path) of every API write whose view is a DestructiveEndpoint, any id filled in."""
    fill = {"uuid": str(uuid.uuid4()), "int": "987654321", "str": "2030-01-01"}
    found = []
    for pattern in get_resolver().url_patterns:
        if not isinstance(pattern, URLResolver) or not str(pattern.pattern).startswith("api/v1/"):
            continue
        for inner in pattern.url_patterns:
            view = getattr(inner.callback, "view_class", None)
            if view is None or not issubclass(view, DestructiveEndpoint):
                continue
            route = str(inner.pattern)
            path = "/api/v1/" + re.sub(r"<(\w+):\w+>", lambda m: fill[m.group(1)], route)
            found += [(method, path) for method in ("post", "put", "patch", "delete") if hasattr(view, method)]
    return found


def test_every_destructive_api_write_refuses_a_stale_session_with_403_json(superuser: User) -> None:
    endpoints = _destructive_endpoints()
    assert {method for method, _ in endpoints} == {"post", "delete"} and len(endpoints) >= 3, endpoints
    with time_machine.travel("2026-05-01 09:00:00", tick=False) as traveller:
        browser = sign_in("root", "pw-root-123!")
        traveller.shift(11 * 60)
        for method, path in endpoints:
            response = getattr(browser, method)(path, content_type="application/json")
            assert response.status_code == 403, (method, path)
            assert response.json()["detail"].startswith("Re-authentication required"), (method, path)


def test_editing_an_alert_channel_asks_for_a_step_up_first_and_never_carries_the_new_secret(operator: User) -> None:
    channel = NotificationChannel.objects.create(name="pager", kind="webhook", target="http://127.0.0.1:9/hook/a")
    url = f"/admin/alerts/notificationchannel/{channel.pk}/change/"
    edit = {"name": "pager", "kind": "webhook", "enabled": "on", "new_target": "http://127.0.0.1:9/hook/tok-99",
            "deliveries-TOTAL_FORMS": "0", "deliveries-INITIAL_FORMS": "0"}
    with time_machine.travel("2026-05-01 09:00:00", tick=False) as traveller:
        ops = sign_in("olive", "pw-olive-123!")
        traveller.shift(11 * 60)
        opened = ops.get(url)
        assert b'id="step-up-form"' in opened.content and b"Editing notification channel" in opened.content
        stale_save = ops.post(url, edit)
        assert b"nothing was saved" in stale_save.content and b"tok-99" not in stale_save.content
        channel.refresh_from_db()
        assert channel.target == "http://127.0.0.1:9/hook/a"
        back = ops.post(url, {"_step_up": "1", "_step_up_password": "pw-olive-123!"})
        assert back.status_code == 302 and back["Location"] == url
        assert b'name="new_target"' in ops.get(url).content
        assert ops.post(url, edit).status_code == 302
    channel.refresh_from_db()
    assert channel.target == "http://127.0.0.1:9/hook/tok-99"
    assert AuditEvent.objects.get(action="auth.step_up").details == {"for_action": "change_notificationchannel"}
