"""Pending periods (Prometheus' `for:`) and the startup grace: a condition must hold before anyone
hears of it, and a stack that is just starting is not a stack that is gone."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import timedelta

import pytest
import time_machine
from django.contrib.auth.models import User
from django.test import Client
from django.utils import timezone

from alerts.evaluator import alerts_evaluate
from alerts.grace import evaluator_started
from alerts.models import Alert, AlertEvent, AlertRule, Notification, NotificationChannel
from alerts.services import AlertStateError, alert_acknowledge, channel_create
from ingest.models import DeadLetter
from jobs.beat import beat_heartbeat
from tests.fixtures_alerts import SmtpInbox, deliver_pending, make_dead_letters, rule_only

pytestmark = pytest.mark.django_db


@pytest.fixture
def email_channel(smtp_inbox: SmtpInbox) -> NotificationChannel:
    return channel_create(kind="email", name="on-call mail", target="oncall@example.com", actor="cli:test")


@pytest.fixture
def fresh_evaluator() -> Iterator[None]:
    """This process starts as an evaluator now; afterwards it is an old one again (no grace)."""
    evaluator_started()
    yield
    evaluator_started(at=0.0)


def test_an_alert_is_pending_until_its_condition_held_for_pending_for_then_opens_and_notifies(
    smtp_inbox: SmtpInbox, email_channel: NotificationChannel
) -> None:
    rule = rule_only("DLQDepthWarning", channels=[email_channel], params={"threshold": 0}, pending_for=timedelta(minutes=5))
    start = timezone.now()
    with time_machine.travel(start, tick=False) as clock:
        make_dead_letters(1)
        counts = alerts_evaluate()
        assert (counts["pending"], counts["opened"]) == (1, 0)
        alert = Alert.objects.get(rule=rule)
        assert (alert.state, alert.pending_since) == ("pending", start)
        for _ in range(4):
            clock.shift(timedelta(minutes=1))
            assert alerts_evaluate()["opened"] == 0
        assert Notification.objects.count() == 0 and deliver_pending() == []

        clock.shift(timedelta(minutes=1))  # five minutes since it was first seen
        assert alerts_evaluate()["opened"] == 1
        deliver_pending()
    alert.refresh_from_db()
    assert (alert.state, alert.pending_since, alert.opened_at) == ("open", start, start + timedelta(minutes=5))
    assert smtp_inbox.subjects() == ["[WARNING] DLQDepthWarning: Dead letters (opened)"]
    assert list(alert.events.values_list("kind", flat=True)) == ["pending", "opened", "notified"]


def test_a_condition_that_clears_while_pending_is_dropped_without_a_word(
    smtp_inbox: SmtpInbox, email_channel: NotificationChannel
) -> None:
    rule = rule_only("DLQDepthWarning", channels=[email_channel], params={"threshold": 0}, pending_for=timedelta(minutes=5))
    start = timezone.now()
    with time_machine.travel(start, tick=False) as clock:
        make_dead_letters(1)
        alerts_evaluate()
        clock.shift(timedelta(minutes=3))
        DeadLetter.objects.update(status=DeadLetter.Status.PURGED)
        counts = alerts_evaluate()
        assert (counts["dropped"], counts["resolved"]) == (1, 0)
        clock.shift(timedelta(minutes=10))
        alerts_evaluate()
    assert not Alert.objects.filter(rule=rule).exists()
    assert not AlertEvent.objects.exists() and not Notification.objects.exists()
    assert deliver_pending() == [] and smtp_inbox.messages == []


def test_a_pending_alert_is_not_counted_open_and_cannot_be_acknowledged(superuser: User, viewer: User) -> None:
    rule = rule_only("DLQDepthWarning", channels=[], params={"threshold": 0}, pending_for=timedelta(minutes=5))
    make_dead_letters(1)
    alerts_evaluate()
    alert = Alert.objects.get(rule=rule)
    assert alert.state == "pending"
    with pytest.raises(AlertStateError, match="pending"):
        alert_acknowledge(alert=alert, actor="cli:test")

    staff = Client()
    staff.force_login(superuser)
    assert staff.get("/api/health").json()["alerts"]["open"] == {}
    assert 'opsconsole_alerts_open{severity="warning"} 0.0' in staff.get("/metrics").content.decode()
    dashboard = staff.get("/admin/metrics/metricsnapshot/dashboard/").content.decode()
    assert "1 pending" in dashboard

    # Pending alerts are listed and filterable in the admin and the API.
    pending_page = staff.get("/admin/alerts/alert/?state__exact=pending").content.decode()
    assert f"/admin/alerts/alert/{alert.pk}/change/" in pending_page
    open_page = staff.get("/admin/alerts/alert/?state__exact=open").content.decode()
    assert f"/admin/alerts/alert/{alert.pk}/change/" not in open_page
    reader = Client()
    reader.force_login(viewer)
    [row] = reader.get("/api/v1/alerts?state=pending").json()["results"]
    assert (row["id"], row["state"], row["pending_since"] is not None) == (alert.pk, "pending", True)
    assert reader.get("/api/v1/alert-rules?page_size=100").json()["results"][0]["pending_for"] is not None


def test_beat_that_never_ticked_since_the_evaluator_started_is_not_gone_during_the_grace(
    settings, smtp_inbox: SmtpInbox, email_channel: NotificationChannel, fresh_evaluator: None
) -> None:  # type: ignore[no-untyped-def]
    """`make demo`: the evaluator starts, beat ticks 35 s later. Nobody hears a thing."""
    settings.ALERT_STARTUP_GRACE_SECONDS = 180
    rule_only("BeatGone", channels=[email_channel], pending_for=timedelta(minutes=3))
    start = timezone.now()
    with time_machine.travel(start, tick=False) as clock:
        evaluator_started()
        assert alerts_evaluate()["pending"] == 0
        clock.shift(timedelta(seconds=35))
        beat_heartbeat()
        for _ in range(15):
            clock.shift(timedelta(minutes=1))
            beat_heartbeat()
            alerts_evaluate()
    assert not Alert.objects.exists()
    assert deliver_pending() == [] and smtp_inbox.messages == []


def test_beat_that_never_comes_goes_pending_after_the_grace_and_opens_after_its_pending_period(
    settings, smtp_inbox: SmtpInbox, email_channel: NotificationChannel, fresh_evaluator: None
) -> None:  # type: ignore[no-untyped-def]
    settings.ALERT_STARTUP_GRACE_SECONDS = 180
    rule = rule_only("BeatGone", channels=[email_channel], pending_for=timedelta(minutes=3))
    start = timezone.now()
    with time_machine.travel(start, tick=False) as clock:
        evaluator_started()
        for _ in range(3):
            alerts_evaluate()
            assert not Alert.objects.exists()  # not even pending
            clock.shift(timedelta(seconds=59))
        clock.shift(timedelta(seconds=10))  # past the grace
        assert alerts_evaluate()["pending"] == 1
        clock.shift(timedelta(minutes=3))
        assert alerts_evaluate()["opened"] == 1
        deliver_pending()
    assert Alert.objects.get(rule=rule).state == "open"
    assert smtp_inbox.subjects() == ["[CRITICAL] BeatGone: Celery beat (opened)"]


def test_beat_that_ticked_after_the_evaluator_started_and_stopped_is_gone_even_in_the_grace(
    settings, fresh_evaluator: None
) -> None:  # type: ignore[no-untyped-def]
    settings.ALERT_STARTUP_GRACE_SECONDS = 3600
    rule = rule_only("BeatGone", channels=[], pending_for=timedelta(0))
    evaluator_started()
    beat_heartbeat(at=time.time() - settings.BEAT_HEARTBEAT_MAX_AGE_SECONDS - 5)  # ticked, then went quiet
    evaluator_started(at=time.time() - settings.BEAT_HEARTBEAT_MAX_AGE_SECONDS - 10)
    assert alerts_evaluate()["opened"] == 1
    assert Alert.objects.get(rule=rule).subject == "beat"


def test_no_workers_is_not_reported_by_an_evaluator_that_just_started(settings, fresh_evaluator: None) -> None:  # type: ignore[no-untyped-def]
    settings.ALERT_STARTUP_GRACE_SECONDS = 180
    rule = rule_only("NoWorkers", channels=[], pending_for=timedelta(0))
    evaluator_started()
    assert alerts_evaluate()["opened"] == 0
    assert not Alert.objects.exists()

    evaluator_started(at=time.time() - 181)  # the grace is over and still no worker heartbeat
    assert alerts_evaluate()["opened"] == 1
    assert Alert.objects.get(rule=rule).subject == "workers"


def test_the_admin_refuses_a_pending_period_out_of_range(superuser: User, alert_rules: list) -> None:
    rule = AlertRule.objects.get(name="QueueBacklog")
    client = Client()
    client.force_login(superuser)
    form = {
        "name": rule.name,
        "kind": rule.kind,
        "description": rule.description,
        "runbook": rule.runbook,
        "params": '{"threshold": 1000}',
        "severity": rule.severity,
        "reminder_interval": "01:00:00",
        "enabled": "on",
    }
    url = f"/admin/alerts/alertrule/{rule.pk}/change/"
    for bad in ("2 00:00:00", "-00:05:00"):
        answer = client.post(url, {**form, "pending_for": bad})
        assert answer.status_code == 200, bad
        assert "Ensure this value is" in answer.content.decode()
    rule.refresh_from_db()
    assert rule.pending_for == timedelta(minutes=10)
    assert client.post(url, {**form, "pending_for": "00:02:00"}).status_code == 302
    rule.refresh_from_db()
    assert rule.pending_for == timedelta(minutes=2)
