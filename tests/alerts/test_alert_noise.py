"""Noise an on-call engineer should not get: an alert that flaps stays open instead of mailing every
flip, and a rule that cannot be read says so once (and once more when it can again)."""

from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine
from django.utils import timezone

from alerts.evaluator import alerts_evaluate
from alerts.models import Alert, AlertRule, Notification, NotificationChannel
from alerts.services import channel_create, silence_create
from ingest.models import DeadLetter
from tests.fixtures_alerts import SmtpInbox, deliver_pending, make_dead_letters, rule_only

pytestmark = pytest.mark.django_db
OPENED = "[WARNING] DLQDepthWarning: Dead letters (opened)"
RESOLVED = "[WARNING] DLQDepthWarning: Dead letters (resolved)"


@pytest.fixture
def email_channel(smtp_inbox: SmtpInbox) -> NotificationChannel:
    return channel_create(kind="email", name="on-call mail", target="oncall@example.com", actor="cli:test")


def test_an_alert_flipping_more_than_the_threshold_in_an_hour_stays_open_flapping_then_resolves_once_after_an_hour_clear(
    settings, smtp_inbox: SmtpInbox, email_channel: NotificationChannel
) -> None:  # type: ignore[no-untyped-def]
    settings.ALERT_FLAP_THRESHOLD = 4
    rule = rule_only("DLQDepthWarning", channels=[email_channel], params={"threshold": 0})
    start = timezone.now()
    with time_machine.travel(start, tick=False) as clock:

        def flip() -> None:
            make_dead_letters(1)
            clock.shift(timedelta(minutes=1))
            alerts_evaluate()
            DeadLetter.objects.update(status=DeadLetter.Status.PURGED)
            clock.shift(timedelta(minutes=1))
            alerts_evaluate()

        for _ in range(4):
            flip()
        deliver_pending()
        assert smtp_inbox.subjects() == [OPENED, RESOLVED] * 4

        flip()  # the fifth clearing within the hour: held open, flapping, and nobody is mailed for it
        counts_before = len(smtp_inbox.messages)
        deliver_pending()
        assert smtp_inbox.subjects()[counts_before:] == [OPENED]
        flapping = Alert.objects.get(rule=rule, state="open")
        assert flapping.flapping is True
        assert flapping.events.filter(kind="flapping").count() == 1

        for _ in range(5):  # more flips: the same alert, not a word
            flip()
        assert deliver_pending() == []
        assert Alert.objects.filter(rule=rule).exclude(state="resolved").count() == 1

        clock.shift(timedelta(minutes=58))  # last seen firing 59 minutes ago
        alerts_evaluate()
        assert Alert.objects.get(pk=flapping.pk).state == "open"
        clock.shift(timedelta(minutes=1))
        assert alerts_evaluate()["resolved"] == 1
        deliver_pending()
    assert smtp_inbox.subjects() == [OPENED, RESOLVED] * 4 + [OPENED, RESOLVED]
    flapping.refresh_from_db()
    assert flapping.state == "resolved" and flapping.flapping
    assert flapping.events.filter(kind="flapping").count() == 1


def test_an_unreadable_rule_is_told_once_and_its_return_is_told_and_recorded(
    settings, smtp_inbox: SmtpInbox, email_channel: NotificationChannel
) -> None:  # type: ignore[no-untyped-def]
    rule = rule_only("QueueBacklog", channels=[email_channel], params={"threshold": 1000})
    broker = settings.CELERY_BROKER_URL
    settings.CELERY_BROKER_URL = "redis://127.0.0.1:1/0"  # queue lengths cannot be read
    start = timezone.now()
    with time_machine.travel(start, tick=False) as clock:
        for _ in range(3):
            assert alerts_evaluate()["errors"] == 1
            clock.shift(timedelta(minutes=1))
        rule.refresh_from_db()
        assert rule.error_since == start and "ConnectionError" in rule.last_error
        deliver_pending()
        assert smtp_inbox.subjects() == ["[WARNING] QueueBacklog: rule cannot be evaluated (unreadable)"]
        mail = smtp_inbox.messages[0].get_payload(decode=True).decode()
        assert "QueueBacklog cannot be evaluated" in mail and "ConnectionError" in mail
        assert "Runbook: " in mail

        settings.CELERY_BROKER_URL = broker
        assert alerts_evaluate()["errors"] == 0
        clock.shift(timedelta(minutes=1))
        alerts_evaluate()
        deliver_pending()
    rule.refresh_from_db()
    assert (rule.error_since, rule.last_error) == (None, "")
    assert smtp_inbox.subjects()[1:] == ["[WARNING] QueueBacklog: rule can be evaluated again (readable)"]
    assert list(Notification.objects.order_by("id").values_list("kind", flat=True)) == ["unreadable", "readable"]
    assert not Alert.objects.exists()


def test_a_silence_of_the_whole_rule_holds_its_unreadable_notice(settings, email_channel: NotificationChannel) -> None:  # type: ignore[no-untyped-def]
    rule = rule_only("QueueBacklog", channels=[email_channel])
    silence_create(rule=rule, subject="*", ends_at=timezone.now() + timedelta(hours=1), reason="redis move", actor="cli:t")
    settings.CELERY_BROKER_URL = "redis://127.0.0.1:1/0"
    alerts_evaluate()
    assert AlertRule.objects.get(pk=rule.pk).error_since is not None
    assert not Notification.objects.exists()
