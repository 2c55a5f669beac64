"""Many subjects of one rule changing together are one message per channel: opened, reminded,
resolved. Over real SMTP; the timeline of every alert still records its notification."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
import time_machine
from django.conf import settings
from django.contrib.auth.models import User
from django.test import Client
from django.utils import timezone

from accounts.models import SpotifyAccount
from alerts.evaluator import alerts_evaluate
from alerts.models import Alert, AlertEvent, Notification, NotificationChannel
from alerts.services import channel_create
from tests.factories import SpotifyAccountFactory
from tests.fixtures_alerts import HttpReceiver, SmtpInbox, deliver_pending, rule_only

pytestmark = pytest.mark.django_db
REAUTH = SpotifyAccount.Health.REAUTH_REQUIRED


def body(message: object) -> str:
    return message.get_payload(decode=True).decode()  # type: ignore[attr-defined]


@pytest.fixture
def email_channel(smtp_inbox: SmtpInbox) -> NotificationChannel:
    return channel_create(kind="email", name="on-call mail", target="oncall@example.com", actor="cli:test")


def test_fifty_accounts_needing_reauthorization_are_one_mail_naming_twenty_and_linking_the_list(
    smtp_inbox: SmtpInbox, email_channel: NotificationChannel
) -> None:
    rule = rule_only("AccountReauthRequired", channels=[email_channel])
    accounts = [SpotifyAccountFactory(display_name=f"Listener {i:02d}", health=REAUTH) for i in range(50)]
    start = timezone.now()
    with time_machine.travel(start, tick=False) as clock:
        assert alerts_evaluate()["opened"] == 50
        assert Notification.objects.count() == 1
        assert [r["outcome"] for r in deliver_pending()] == ["sent"]
        [mail] = smtp_inbox.messages
        assert mail["Subject"] == "[CRITICAL] AccountReauthRequired: 50 alerts (opened)"
        text = body(mail)
        named = [f"Listener {i:02d}" for i in range(50) if f"- Listener {i:02d}" in text]
        assert named == [f"Listener {i:02d}" for i in range(settings.ALERT_GROUP_SUBJECTS_MAX)]
        assert "… and 30 more" in text
        link = f"{settings.ALERT_CONSOLE_URL}/admin/alerts/alert/?rule__id__exact={rule.pk}&state__exact=open"
        assert f"All 50 alerts: {link}" in text
        assert f"Runbook: {settings.RUNBOOK_BASE_URL}/reauthorize-account.md" in text
        notification = Notification.objects.get()
        assert notification.alerts.count() == 50 and notification.payload["count"] == 50
        assert len(notification.payload["alerts"]) == 50  # machines get every one
        notes = set(AlertEvent.objects.filter(kind="notified").values_list("note", flat=True))
        assert AlertEvent.objects.filter(kind="notified").count() == 50
        assert notes == {"opened: on-call mail (one message for 50 alerts)"}

        # Their reminders fall due together: one reminder.
        clock.shift(rule.reminder_interval)
        assert alerts_evaluate()["reminded"] == 50
        deliver_pending()
        assert smtp_inbox.subjects()[-1] == "[CRITICAL] AccountReauthRequired: 50 alerts (reminder)"

        # Ten are re-authorized in one go: one recovery mail naming them; then the rest.
        SpotifyAccount.objects.filter(pk__in=[a.pk for a in accounts[:10]]).update(health=SpotifyAccount.Health.OK)
        clock.shift(timedelta(minutes=1))
        assert alerts_evaluate()["resolved"] == 10
        deliver_pending()
        assert smtp_inbox.subjects()[-1] == "[CRITICAL] AccountReauthRequired: 10 alerts (resolved)"
        resolved_text = body(smtp_inbox.messages[-1])
        assert "- Listener 09" in resolved_text and "more" not in resolved_text and "Listener 10" not in resolved_text
        assert f"?rule__id__exact={rule.pk}&state__exact=resolved" in resolved_text
        SpotifyAccount.objects.update(health=SpotifyAccount.Health.OK)
        clock.shift(timedelta(minutes=1))
        assert alerts_evaluate()["resolved"] == 40
        deliver_pending()
    assert smtp_inbox.subjects() == [
        "[CRITICAL] AccountReauthRequired: 50 alerts (opened)",
        "[CRITICAL] AccountReauthRequired: 50 alerts (reminder)",
        "[CRITICAL] AccountReauthRequired: 10 alerts (resolved)",
        "[CRITICAL] AccountReauthRequired: 40 alerts (resolved)",
    ]
    assert Alert.objects.filter(state="resolved").count() == 50


def test_one_webhook_message_carries_the_list_of_alerts_and_subjects_opening_later_are_a_new_message(
    http_receiver: HttpReceiver,
) -> None:
    hook = channel_create(kind="webhook", name="hook", target=f"{http_receiver.url}/hook", actor="cli:test")
    rule_only("AccountQuarantined", channels=[hook])
    for name in ("Alpha", "Bravo", "Charlie"):
        SpotifyAccountFactory(display_name=name, health=SpotifyAccount.Health.QUARANTINED)
    alerts_evaluate()
    SpotifyAccountFactory(display_name="Delta", health=SpotifyAccount.Health.QUARANTINED)
    alerts_evaluate()
    deliver_pending()
    first, second = (r.json() for r in http_receiver.wait_for(2))
    assert (first["count"], [a["subject_label"] for a in first["alerts"]]) == (3, ["Alpha", "Bravo", "Charlie"])
    assert (second["count"], [a["subject_label"] for a in second["alerts"]]) == (1, ["Delta"])
    assert first["title"] == "[WARNING] AccountQuarantined: 3 alerts (opened)"
    first_three = Alert.objects.filter(subject_label__in=["Alpha", "Bravo", "Charlie"])
    assert {a["dedup_key"] for a in first["alerts"]} == {f"opsconsole-alert-{a.pk}" for a in first_three}


def test_the_alert_page_lists_the_grouped_message_that_carried_it(superuser: User, email_channel: NotificationChannel) -> None:
    rule_only("AccountQuarantined", channels=[email_channel])
    for name in ("Alpha", "Bravo"):
        SpotifyAccountFactory(display_name=name, health=SpotifyAccount.Health.QUARANTINED)
    alerts_evaluate()
    alert = Alert.objects.get(subject_label="Bravo")
    client = Client()
    client.force_login(superuser)
    page = client.get(f"/admin/alerts/alert/{alert.pk}/change/").content.decode()
    assert "Alerts in the message" in page and "on-call mail" in page
    inline = page[page.index("Alerts in the message") :]
    assert re.search(r'<td class="field-group_size">\s*<p>2</p>', inline)
