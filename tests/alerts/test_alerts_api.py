"""The alerting API: operators act, viewers read, bad input is a JSON 4xx, secrets never come back."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.utils import timezone

from alerts.evaluator import alerts_evaluate
from alerts.models import Alert, Notification, NotificationChannel
from audit.models import AuditEvent
from tests.fixtures_alerts import HttpReceiver, make_dead_letters, rule_only

pytestmark = pytest.mark.django_db


def _client(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def open_alert() -> Alert:
    rule_only("DLQDepthWarning", channels=[], params={"threshold": 0})
    make_dead_letters(1)
    alerts_evaluate()
    return Alert.objects.get()


def test_operators_acknowledge_snooze_and_resolve_viewers_only_read(operator: User, viewer: User, open_alert: Alert) -> None:
    ops, view = _client(operator), _client(viewer)
    listed = view.get("/api/v1/alerts?state=open").json()
    assert [a["id"] for a in listed["results"]] == [open_alert.pk] and listed["results"][0]["rule"] == "DLQDepthWarning"
    assert view.get("/api/v1/alerts?state=resolved").json()["results"] == []
    assert view.post(f"/api/v1/alerts/{open_alert.pk}/acknowledge").status_code == 403

    acked = ops.post(f"/api/v1/alerts/{open_alert.pk}/acknowledge")
    assert acked.status_code == 200 and acked.json()["state"] == "acknowledged"
    assert acked.json()["acknowledged_by"] == "api:olive"

    until = (timezone.now() + timedelta(hours=2)).isoformat()
    snoozed = ops.post(
        f"/api/v1/alerts/{open_alert.pk}/snooze", {"until": until, "reason": "deploy"}, content_type="application/json"
    )
    assert snoozed.status_code == 200 and snoozed.json()["state"] == "snoozed"
    assert [a["id"] for a in view.get("/api/v1/alerts?state=snoozed").json()["results"]] == [open_alert.pk]

    resolved = ops.post(f"/api/v1/alerts/{open_alert.pk}/resolve")
    assert resolved.status_code == 200 and resolved.json()["resolved_by"] == "api:olive"
    again = ops.post(f"/api/v1/alerts/{open_alert.pk}/acknowledge")
    assert again.status_code == 409 and again.json()["detail"] == "The alert is resolved."
    assert list(AuditEvent.objects.filter(target_id=str(open_alert.pk)).values_list("action", flat=True).order_by("id")) == [
        "alert.acknowledge",
        "alert.snooze",
        "alert.resolve",
    ]


def test_bad_snooze_and_filters_are_json_400s(operator: User, open_alert: Alert) -> None:
    ops = _client(operator)
    past = (timezone.now() - timedelta(minutes=1)).isoformat()
    answer = ops.post(f"/api/v1/alerts/{open_alert.pk}/snooze", {"until": past}, content_type="application/json")
    assert answer.status_code == 400
    assert set(answer.json()["errors"]) == {"until", "reason"}
    assert ops.get("/api/v1/alerts?state=sleeping").status_code == 400
    assert ops.post("/api/v1/alerts/999999/resolve").status_code == 404


def test_channels_are_created_tested_and_never_read_back(operator: User, viewer: User, http_receiver: HttpReceiver) -> None:
    ops = _client(operator)
    created = ops.post(
        "/api/v1/alert-channels",
        {"kind": "webhook", "name": "pager", "target": f"{http_receiver.url}/hook?token=abc", "secret": "hush"},
        content_type="application/json",
    )
    assert created.status_code == 201, created.content
    channel_id = created.json()["id"]
    listing = _client(viewer).get("/api/v1/alert-channels").content.decode()
    assert "hush" not in listing and "token=abc" not in listing and "pager" in listing
    assert "hush" not in created.content.decode()
    stored = NotificationChannel.objects.get(pk=channel_id)
    assert stored.secret == "hush"

    tested = ops.post(f"/api/v1/alert-channels/{channel_id}/test")
    assert tested.status_code == 202
    assert Notification.objects.get(pk=tested.json()["notification_id"]).kind == "test"
    assert _client(viewer).post(f"/api/v1/alert-channels/{channel_id}/test").status_code == 403
    assert AuditEvent.objects.filter(action__in=["alert_channel.create", "alert_channel.test"]).count() == 2


def test_channel_input_errors_name_their_field(settings, operator: User) -> None:  # type: ignore[no-untyped-def]
    ops = _client(operator)
    settings.ALERT_WEBHOOK_ALLOW_PRIVATE = False
    refused = ops.post(
        "/api/v1/alert-channels",
        {"kind": "webhook", "name": "x", "target": "http://127.0.0.1:6379/"},
        content_type="application/json",
    )
    assert refused.status_code == 400 and "target" in refused.json()["errors"]
    bad_mail = ops.post(
        "/api/v1/alert-channels", {"kind": "email", "name": "m", "target": "not-an-address"}, content_type="application/json"
    )
    assert bad_mail.status_code == 400 and "target" in bad_mail.json()["errors"]
    bad_kind = ops.post("/api/v1/alert-channels", {"kind": "pigeon", "name": "p", "target": "x"}, content_type="application/json")
    assert bad_kind.status_code == 400 and "kind" in bad_kind.json()["errors"]
    assert not NotificationChannel.objects.exists()


def test_rules_are_listed_for_viewers(viewer: User, alert_rules: list) -> None:
    rules = _client(viewer).get("/api/v1/alert-rules?page_size=100").json()["results"]
    by_name = {r["name"]: r for r in rules}
    assert by_name["DLQDepthCritical"]["params"] == {"threshold": 1000}
    assert by_name["DLQDepthCritical"]["severity"] == "critical"
