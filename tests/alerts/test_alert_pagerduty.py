"""PagerDuty's Events API v2 over real HTTP (the receiver on loopback stands in for
events.pagerduty.com): trigger → acknowledge → resolve on one dedup_key per alert."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.conf import settings
from django.contrib.auth.models import User
from django.test import Client
from django.utils import timezone

from accounts.models import SpotifyAccount
from alerts.evaluator import alerts_evaluate
from alerts.models import Alert, Delivery, NotificationChannel
from alerts.services import alert_snooze, channel_create
from ingest.models import DeadLetter
from tests.factories import SpotifyAccountFactory
from tests.fixtures_alerts import HttpReceiver, SmtpInbox, deliver_pending, make_dead_letters, rule_only

pytestmark = pytest.mark.django_db
ROUTING_KEY = "R0ut1ngKeyR0ut1ngKeyR0ut1ngKey12"


@pytest.fixture
def pagerduty(settings: Any, http_receiver: HttpReceiver) -> NotificationChannel:
    settings.ALERT_PAGERDUTY_URL = f"{http_receiver.url}/v2/enqueue"
    return channel_create(kind="pagerduty", name="PagerDuty on-call", target=ROUTING_KEY, actor="cli:test")


def test_an_incident_is_triggered_acknowledged_and_resolved_on_one_dedup_key(
    operator: User, http_receiver: HttpReceiver, pagerduty: NotificationChannel
) -> None:
    rule = rule_only("DLQDepthCritical", channels=[pagerduty], params={"threshold": 0})
    make_dead_letters(2)
    alerts_evaluate()
    deliver_pending()
    alert = Alert.objects.get(rule=rule)
    [trigger] = http_receiver.wait_for(1)
    assert trigger.path == "/v2/enqueue" and trigger.headers["Content-Type"] == "application/json"
    event = trigger.json()
    assert (event["routing_key"], event["event_action"], event["dedup_key"]) == (
        ROUTING_KEY,
        "trigger",
        f"opsconsole-alert-{alert.pk}",
    )
    payload = event["payload"]
    assert payload["severity"] == "critical" and payload["summary"].startswith("DLQDepthCritical: Dead letters: 2 dead letters")
    assert payload["source"] == "127.0.0.1" and payload["group"] == "DLQDepthCritical" and payload["class"] == "dead_letters"
    runbook = f"{settings.RUNBOOK_BASE_URL}/dead-letters-circuit-breakers.md"
    assert payload["custom_details"]["runbook"] == runbook
    assert {link["text"]: link["href"] for link in event["links"]} == {
        "Alert in opsconsole": f"{settings.ALERT_CONSOLE_URL}/admin/alerts/alert/{alert.pk}/change/",
        "Runbook": runbook,
    }

    ops = Client()
    ops.force_login(operator)
    assert ops.post(f"/api/v1/alerts/{alert.pk}/acknowledge").status_code == 200
    deliver_pending()
    DeadLetter.objects.update(status=DeadLetter.Status.PURGED)
    alerts_evaluate()
    deliver_pending()
    events = [r.json() for r in http_receiver.wait_for(3)]
    assert [(e["event_action"], e["dedup_key"]) for e in events] == [
        ("trigger", f"opsconsole-alert-{alert.pk}"),
        ("acknowledge", f"opsconsole-alert-{alert.pk}"),
        ("resolve", f"opsconsole-alert-{alert.pk}"),
    ]
    assert all(e["routing_key"] == ROUTING_KEY for e in events)
    assert "payload" not in events[1] and "payload" not in events[2]
    assert list(alert.events.filter(kind="notified").values_list("note", flat=True)) == [
        "opened: PagerDuty on-call",
        "acknowledged: PagerDuty on-call",
        "resolved: PagerDuty on-call",
    ]
    assert Delivery.objects.filter(channel=pagerduty, ok=True).count() == 3


def test_a_grouped_opening_is_one_mail_and_one_pagerduty_event_per_alert_and_reminders_stay_off_pagerduty(
    smtp_inbox: SmtpInbox, http_receiver: HttpReceiver, pagerduty: NotificationChannel
) -> None:
    mail = channel_create(kind="email", name="on-call mail", target="oncall@example.com", actor="cli:test")
    rule = rule_only("AccountQuarantined", channels=[mail, pagerduty])
    for name in ("Alpha", "Bravo", "Charlie"):
        SpotifyAccountFactory(display_name=name, health=SpotifyAccount.Health.QUARANTINED)
    alerts_evaluate()
    assert sorted(r["outcome"] for r in deliver_pending()) == ["sent"] * 4
    events = [r.json() for r in http_receiver.wait_for(3)]
    assert {e["dedup_key"] for e in events} == {f"opsconsole-alert-{a.pk}" for a in Alert.objects.filter(rule=rule)}
    assert {e["payload"]["severity"] for e in events} == {"warning"}
    assert smtp_inbox.subjects() == ["[WARNING] AccountQuarantined: 3 alerts (opened)"]

    Alert.objects.update(last_notified_at=Alert.objects.first().opened_at - rule.reminder_interval)  # type: ignore[union-attr]
    assert alerts_evaluate()["reminded"] == 3
    deliver_pending()
    assert smtp_inbox.subjects()[-1] == "[WARNING] AccountQuarantined: 3 alerts (reminder)"
    assert len(http_receiver.requests) == 3


def test_pagerduty_routing_keys_are_checked_and_the_endpoint_still_passes_the_ssrf_guard(
    settings: Any, operator: User, http_receiver: HttpReceiver, pagerduty: NotificationChannel
) -> None:
    with pytest.raises(ValueError, match="32-character"):
        channel_create(kind="pagerduty", name="bad", target="https://events.pagerduty.com/x", actor="cli:test")
    ops = Client()
    ops.force_login(operator)
    refused = ops.post(
        "/api/v1/alert-channels", {"kind": "pagerduty", "name": "pd", "target": "short"}, content_type="application/json"
    )
    assert refused.status_code == 400 and "target" in refused.json()["errors"]

    rule_only("DLQDepthCritical", channels=[pagerduty], params={"threshold": 0})
    make_dead_letters(1)
    alerts_evaluate()
    settings.ALERT_WEBHOOK_ALLOW_PRIVATE = False  # the receiver is on loopback: refused
    [result] = deliver_pending()
    assert result["outcome"] == "failed" and http_receiver.requests == []
    delivery = Delivery.objects.get(channel=pagerduty)
    assert "target refused" in delivery.error and ROUTING_KEY not in delivery.error


def test_a_snoozed_alert_that_resolves_closes_its_page_but_mails_nobody(
    smtp_inbox: SmtpInbox, http_receiver: HttpReceiver, pagerduty: NotificationChannel
) -> None:
    mail = channel_create(kind="email", name="on-call mail", target="oncall@example.com", actor="cli:test")
    rule = rule_only("DLQDepthWarning", channels=[mail, pagerduty], params={"threshold": 0})
    make_dead_letters(1)
    alerts_evaluate()
    alert = Alert.objects.get(rule=rule)
    alert_snooze(alert=alert, until=timezone.now() + timedelta(hours=3), reason="vendor fix", actor="api:olive")
    DeadLetter.objects.update(status=DeadLetter.Status.PURGED)
    alerts_evaluate()
    deliver_pending()
    assert [(r.json()["event_action"], r.json()["dedup_key"]) for r in http_receiver.wait_for(2)] == [
        ("trigger", alert.dedup_key),
        ("resolve", alert.dedup_key),
    ]
    assert smtp_inbox.subjects() == ["[WARNING] DLQDepthWarning: Dead letters (opened)"]
