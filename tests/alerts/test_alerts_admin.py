"""The alerting admin: open alerts first, Acknowledge / Snooze until / Resolve, write-only channel
targets and secrets with a test action, job ping URLs."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.utils import timezone

from alerts.evaluator import alerts_evaluate
from alerts.models import Alert, Notification, NotificationChannel
from alerts.services import alert_resolve
from audit.models import AuditEvent
from jobs.models import JobPing
from tests.fixtures_alerts import make_dead_letters, rule_only

pytestmark = pytest.mark.django_db
ALERTS = "/admin/alerts/alert/"


@pytest.fixture
def ops(operator: User) -> Client:
    from core.groups import ops_groups_sync

    ops_groups_sync()  # model permissions of the operators group (a flushed database lost them)
    client = Client()
    client.force_login(operator)
    return client


def _two_alerts() -> tuple[Alert, Alert]:
    rule_only("DLQDepthWarning", channels=[], params={"threshold": 0})
    make_dead_letters(1)
    alerts_evaluate()
    old = Alert.objects.get()
    alert_resolve(alert=old, actor="cli:test")
    alerts_evaluate()  # still firing: a new episode opens
    return old, Alert.objects.exclude(pk=old.pk).get()


def test_the_changelist_puts_open_alerts_first(ops: Client) -> None:
    resolved, current = _two_alerts()
    page = ops.get(ALERTS).content.decode()
    assert page.index(f"/admin/alerts/alert/{current.pk}/change/") < page.index(f"/admin/alerts/alert/{resolved.pk}/change/")


def test_acknowledge_snooze_with_its_form_and_resolve_from_the_admin(ops: Client) -> None:
    _, alert = _two_alerts()
    ops.post(ALERTS, {"action": "acknowledge", "_selected_action": [alert.pk]})
    alert.refresh_from_db()
    assert (alert.state, alert.acknowledged_by) == ("acknowledged", "admin:olive")

    form = ops.post(ALERTS, {"action": "snooze_until", "_selected_action": [alert.pk]})
    assert form.status_code == 200 and 'name="reason"' in form.content.decode()
    until = (timezone.now() + timedelta(hours=1)).strftime("%Y-%m-%d %H:%M:%S")
    bad = ops.post(ALERTS, {"action": "snooze_until", "_selected_action": [alert.pk], "apply": "1", "until": until})
    assert bad.status_code == 200 and "This field is required" in bad.content.decode()
    done = ops.post(
        ALERTS, {"action": "snooze_until", "_selected_action": [alert.pk], "apply": "1", "until": until, "reason": "vendor fix"}
    )
    assert done.status_code == 302
    alert.refresh_from_db()
    assert (alert.state, alert.snooze_reason) == ("snoozed", "vendor fix")

    ops.post(ALERTS, {"action": "resolve", "_selected_action": [alert.pk]})
    alert.refresh_from_db()
    assert alert.state == "resolved"
    assert AuditEvent.objects.filter(target_id=str(alert.pk), actor="admin:olive").count() == 3


def test_channel_targets_and_secrets_are_write_only_and_a_test_can_be_sent(ops: Client) -> None:
    added = ops.post(
        "/admin/alerts/notificationchannel/add/",
        {
            "name": "pager",
            "kind": "webhook",
            "enabled": "on",
            "new_target": "http://127.0.0.1:9/hook/tok-42",
            "new_secret": "k-77",
        },
    )
    assert added.status_code == 302, added.content.decode()[:2000]
    channel = NotificationChannel.objects.get()
    assert (channel.target, channel.secret) == ("http://127.0.0.1:9/hook/tok-42", "k-77")
    page = ops.get(f"/admin/alerts/notificationchannel/{channel.pk}/change/").content.decode()
    assert "tok-42" not in page and "k-77" not in page

    inline = {"deliveries-TOTAL_FORMS": "0", "deliveries-INITIAL_FORMS": "0"}
    kept = ops.post(
        f"/admin/alerts/notificationchannel/{channel.pk}/change/",
        {"name": "pager", "kind": "webhook", "enabled": "on", **inline},
    )
    assert kept.status_code == 302
    channel.refresh_from_db()
    assert channel.secret == "k-77"

    ops.post("/admin/alerts/notificationchannel/", {"action": "send_test", "_selected_action": [channel.pk]})
    assert Notification.objects.filter(channel=channel, kind="test").count() == 1
    assert list(AuditEvent.objects.filter(target_id=str(channel.pk)).values_list("action", flat=True).order_by("id")) == [
        "alert_channel.create",
        "alert_channel.change",
        "alert_channel.test",
    ]


def test_a_job_ping_url_is_set_in_the_admin_and_never_shown(ops: Client) -> None:
    added = ops.post("/admin/jobs/jobping/add/", {"job_name": "refresh_tokens", "new_url": "http://127.0.0.1:9/ping/uuid-9"})
    assert added.status_code == 302, added.content.decode()[:2000]
    ping = JobPing.objects.get()
    assert ping.url == "http://127.0.0.1:9/ping/uuid-9"
    assert "uuid-9" not in ops.get(f"/admin/jobs/jobping/{ping.pk}/change/").content.decode()
    assert AuditEvent.objects.filter(action="job.ping_url_set", actor="admin:olive").exists()
