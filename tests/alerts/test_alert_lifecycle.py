"""Open → remind → acknowledge → resolve, snooze, and the seeded rules, over real SMTP."""

from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine
from django.core.management import call_command
from django.db import IntegrityError, transaction
from django.utils import timezone

from alerts.evaluator import alerts_evaluate
from alerts.models import Alert, AlertEvent, AlertRule, Notification, NotificationChannel
from alerts.rules import RULES
from alerts.services import alert_acknowledge, alert_snooze, channel_create
from audit.models import AuditEvent
from ingest.models import DeadLetter
from tests.fixtures_alerts import SmtpInbox, deliver_pending, make_dead_letters, rule_only

pytestmark = pytest.mark.django_db


@pytest.fixture
def email_channel(smtp_inbox: SmtpInbox) -> NotificationChannel:
    return channel_create(kind="email", name="on-call mail", target="oncall@example.com", actor="cli:test")


def test_every_issue_rule_kind_is_seeded_once_and_operator_edits_survive_setup(alert_rules: list) -> None:
    kinds = set(AlertRule.objects.values_list("kind", flat=True))
    assert kinds == set(AlertRule.Kind.values)
    dlq = {r.name: r.params["threshold"] for r in AlertRule.objects.filter(kind="dead_letters")}
    assert dlq == {"DLQDepthCritical": 1000, "DLQDepthWarning": 100}
    assert AlertRule.objects.get(name="DLQDepthCritical").severity == "critical"

    AlertRule.objects.filter(name="DLQDepthWarning").update(params={"threshold": 5}, enabled=False)
    AlertRule.objects.filter(name="NoWorkers").delete()
    call_command("setup_alert_rules")
    call_command("setup_alert_rules")
    assert AlertRule.objects.count() == len(RULES)
    edited = AlertRule.objects.get(name="DLQDepthWarning")
    assert edited.params == {"threshold": 5} and edited.enabled is False
    assert AuditEvent.objects.filter(action="alert_rule.setup").count() == 2


def test_open_remind_acknowledge_resolve_reaches_the_smtp_server(
    smtp_inbox: SmtpInbox, email_channel: NotificationChannel
) -> None:
    rule = rule_only("DLQDepthWarning", channels=[email_channel], params={"threshold": 3})
    start = timezone.now()
    with time_machine.travel(start, tick=False) as clock:
        make_dead_letters(4)
        assert alerts_evaluate()["opened"] == 1
        alert = Alert.objects.get(rule=rule)
        assert (alert.state, alert.subject, alert.severity) == ("open", "dead_letters", "warning")
        assert [r["outcome"] for r in deliver_pending()] == ["sent"]
        assert smtp_inbox.subjects() == ["[WARNING] DLQDepthWarning: Dead letters (opened)"]
        body = smtp_inbox.messages[0].get_payload()
        assert "4 dead letters pending (threshold 3)" in body and f"/admin/alerts/alert/{alert.pk}/change/" in body
        assert smtp_inbox.messages[0]["X-Rcpt-To"] == "oncall@example.com"

        # Still firing a minute later: no new alert, no reminder before the interval.
        clock.shift(timedelta(minutes=1))
        assert alerts_evaluate()["opened"] == 0
        assert deliver_pending() == []
        clock.shift(rule.reminder_interval)
        assert alerts_evaluate()["reminded"] == 1
        deliver_pending()
        assert smtp_inbox.subjects()[-1] == "[WARNING] DLQDepthWarning: Dead letters (reminder)"

        alert_acknowledge(alert=alert, actor="admin:olive")
        clock.shift(rule.reminder_interval * 2)
        assert alerts_evaluate()["reminded"] == 0
        assert deliver_pending() == []
        assert len(smtp_inbox.messages) == 2

        DeadLetter.objects.update(status=DeadLetter.Status.PURGED)
        clock.shift(timedelta(minutes=1))
        assert alerts_evaluate()["resolved"] == 1
        deliver_pending()
    assert smtp_inbox.subjects()[-1] == "[WARNING] DLQDepthWarning: Dead letters (resolved)"
    alert.refresh_from_db()
    assert (alert.state, alert.resolved_by, alert.acknowledged_by) == ("resolved", "evaluator", "admin:olive")
    assert list(alert.events.values_list("kind", flat=True)) == [
        "opened",
        "notified",
        "notified",
        "acknowledged",
        "resolved",
        "notified",
    ]
    assert AuditEvent.objects.filter(action="alert.acknowledge", actor="admin:olive", target_id=str(alert.pk)).exists()


def test_snooze_silences_reminders_until_it_ends_then_they_resume(
    smtp_inbox: SmtpInbox, email_channel: NotificationChannel
) -> None:
    rule = rule_only("DLQDepthWarning", channels=[email_channel], params={"threshold": 0})
    start = timezone.now()
    with time_machine.travel(start, tick=False) as clock:
        make_dead_letters(1)
        alerts_evaluate()
        deliver_pending()
        alert = Alert.objects.get(rule=rule)
        alert_snooze(alert=alert, until=start + timedelta(hours=3), reason="maintenance window", actor="api:olive")
        for _ in range(2):  # two reminder intervals pass while snoozed
            clock.shift(rule.reminder_interval + timedelta(minutes=1))
            assert alerts_evaluate()["reminded"] == 0
        assert deliver_pending() == []
        alert.refresh_from_db()
        assert (alert.state, alert.snooze_reason) == ("snoozed", "maintenance window")

        clock.shift(timedelta(hours=1))  # past the snooze
        counts = alerts_evaluate()
        assert (counts["unsnoozed"], counts["reminded"]) == (1, 1)
        deliver_pending()
    alert.refresh_from_db()
    assert alert.state == "open" and alert.snoozed_until is None
    assert smtp_inbox.subjects() == [
        "[WARNING] DLQDepthWarning: Dead letters (opened)",
        "[WARNING] DLQDepthWarning: Dead letters (reminder)",
    ]
    assert AlertEvent.objects.filter(alert=alert, kind__in=["snoozed", "unsnoozed"]).count() == 2


def test_one_unresolved_alert_per_rule_and_subject_is_a_database_rule(alert_rules: list) -> None:
    rule = AlertRule.objects.get(name="DLQDepthWarning")
    Alert.objects.create(rule=rule, subject="dead_letters", severity="warning")
    with pytest.raises(IntegrityError), transaction.atomic():
        Alert.objects.create(rule=rule, subject="dead_letters", severity="warning", state="acknowledged")
    Alert.objects.filter(rule=rule).update(state="resolved")
    Alert.objects.create(rule=rule, subject="dead_letters", severity="warning")  # a new episode may open


def test_an_unreadable_condition_keeps_its_alerts_open(settings, email_channel: NotificationChannel) -> None:  # type: ignore[no-untyped-def]
    rule = rule_only("QueueBacklog", channels=[email_channel], params={"threshold": -1})
    alerts_evaluate()
    assert Alert.objects.filter(rule=rule, state="open").exists()
    settings.CELERY_BROKER_URL = "redis://127.0.0.1:1/0"  # queue lengths cannot be read
    counts = alerts_evaluate()
    assert counts["errors"] == 1 and counts["resolved"] == 0
    assert Alert.objects.filter(rule=rule, state="open").exists()
    assert "ConnectionError" in AlertRule.objects.get(pk=rule.pk).last_error


def test_a_rule_without_channels_opens_its_alert_and_says_nobody_was_told() -> None:
    rule = rule_only("DLQDepthWarning", channels=[], params={"threshold": 0})
    make_dead_letters(1)
    alerts_evaluate()
    alert = Alert.objects.get(rule=rule)
    assert not Notification.objects.exists()
    assert alert.events.get(kind="notified").note == "opened: no channel configured"


def test_disabling_a_connector_opens_an_alert_mailed_to_files_and_enabling_it_resolves_it(
    settings,
    superuser,
    tmp_path,  # type: ignore[no-untyped-def]
) -> None:
    """The demo's path: the file mail backend (EMAIL_URL=filemail://...) receives both mails."""
    from spotify.connectors import connector_setting_update, connector_settings_seed

    settings.EMAIL_BACKEND = "django.core.mail.backends.filebased.EmailBackend"
    settings.EMAIL_FILE_PATH = str(tmp_path / "mail")
    channel = channel_create(kind="email", name="demo mail", target="oncall@localhost", actor="cli:test")
    rule_only("ConnectorDisabled", channels=[channel])
    connector_settings_seed()
    connector_setting_update(name="spotify.albums", values={"enabled": False}, user=superuser)
    assert alerts_evaluate()["opened"] == 1
    deliver_pending()
    connector_setting_update(name="spotify.albums", values={"enabled": True}, user=superuser)
    assert alerts_evaluate()["resolved"] == 1
    deliver_pending()
    mails = "".join(path.read_text() for path in sorted((tmp_path / "mail").iterdir()))
    assert "Subject: [WARNING] ConnectorDisabled: spotify.albums (opened)" in mails
    assert "Subject: [WARNING] ConnectorDisabled: spotify.albums (resolved)" in mails
