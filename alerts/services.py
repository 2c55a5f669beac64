"""Writes of the alerting app: notifications and their delivery, operator actions on alerts,
channels and rules. Every operator action leaves one audit row."""

from __future__ import annotations

import logging
import time
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.urls import NoReverseMatch, reverse
from django.utils import timezone

from alerts.channels import DeliveryFailed, channel_send, channel_validate_target
from alerts.models import Alert, AlertEvent, AlertRule, Delivery, Notification, NotificationChannel
from audit.services import audit_record
from core.locks import LockBusy, redis_lock
from jobs.models import JobRun
from jobs.services import job_enqueue

logger = logging.getLogger(__name__)

DELIVER_JOB = "alert_deliver"
# A pending notification nobody tried for this long lost its task (a broker wipe): queue it again.
STUCK_AFTER = timedelta(minutes=10)


class AlertStateError(ValueError):
    """The action does not apply to the alert's state (e.g. acknowledging a resolved alert)."""


def _admin_link(alert: Alert) -> str:
    try:
        path = reverse("admin:alerts_alert_change", args=[alert.pk])
    except NoReverseMatch:
        return ""
    return settings.ALERT_CONSOLE_URL.rstrip("/") + path


def alert_payload(alert: Alert, *, event: str) -> dict[str, Any]:
    """The JSON a webhook receives (and the text of an email or Slack message)."""
    return {
        "alert": alert.pk,
        "event": event,
        "rule": alert.rule.name,
        "rule_kind": alert.rule.kind,
        "subject": alert.subject,
        "subject_label": alert.subject_label,
        "state": alert.state,
        "severity": alert.severity,
        "summary": alert.summary,
        "opened_at": alert.opened_at.isoformat(),
        "resolved_at": alert.resolved_at.isoformat() if alert.resolved_at else None,
        "link": _admin_link(alert),
        "runbook": alert.rule.runbook_url(),
    }


def _queue(notification: Notification) -> None:
    job_enqueue(
        DELIVER_JOB,
        trigger=JobRun.Trigger.CHAIN,
        triggered_by="alerts",
        kwargs={"notification_id": notification.pk},
        subject={"notification": notification.pk, "channel": notification.channel_id},
    )


def alert_notify(*, alert: Alert, kind: str, now: datetime) -> list[Notification]:
    """Queue one notification per enabled channel of the alert's rule; the timeline says where."""
    channels = list(alert.rule.channels.filter(enabled=True).order_by("name"))
    payload = alert_payload(alert, event=kind)
    notifications = [
        Notification.objects.create(channel=channel, alert=alert, kind=kind, payload=payload, created_at=now, next_attempt_at=now)
        for channel in channels
    ]
    for notification in notifications:
        _queue(notification)
    Alert.objects.filter(pk=alert.pk).update(last_notified_at=now)
    alert.last_notified_at = now
    note = ", ".join(c.name for c in channels) if channels else "no channel configured"
    AlertEvent.objects.create(alert=alert, at=now, kind=AlertEvent.Kind.NOTIFIED, actor="evaluator", note=f"{kind}: {note}")
    return notifications


def notifications_requeue_stuck(*, now: datetime) -> int:
    """Pending notifications whose retry is long overdue get a new delivery task (nothing is dropped)."""
    stuck = list(Notification.objects.filter(status=Notification.Status.PENDING, next_attempt_at__lt=now - STUCK_AFTER))
    for notification in stuck:
        Notification.objects.filter(pk=notification.pk).update(next_attempt_at=now)
        _queue(notification)
    return len(stuck)


def delivery_backoff_seconds(attempts: int) -> float:
    """30 s, 60 s, 120 s ... capped (settings), after `attempts` failed attempts."""
    base = float(settings.ALERT_DELIVERY_BACKOFF_BASE_SECONDS)
    return float(min(float(settings.ALERT_DELIVERY_BACKOFF_MAX_SECONDS), base * 2 ** max(0, attempts - 1)))


def notification_deliver(*, notification_id: int) -> dict[str, Any]:
    """Attempt one delivery and record it (a Delivery row). Returns {"outcome": sent | failed |
    already_sent | busy | gone, "retry_in": seconds when failed}. Never sends a sent notification
    twice: a per-notification lock and the status check guard redeliveries."""
    try:
        with redis_lock(f"alert-deliver:{notification_id}", ttl_seconds=int(settings.ALERT_DELIVERY_TIMEOUT_SECONDS) + 60):
            notification = Notification.objects.select_related("channel").filter(pk=notification_id).first()
            if notification is None:
                return {"outcome": "gone"}
            if notification.status == Notification.Status.SENT:
                return {"outcome": "already_sent"}
            channel = notification.channel
            started = time.monotonic()
            now = timezone.now()
            try:
                sent = channel_send(channel, notification.payload)
            except DeliveryFailed as exc:
                return _record_failure(notification, channel, exc, started=started, now=now)
            duration_ms = int((time.monotonic() - started) * 1000)
            with transaction.atomic():
                Delivery.objects.create(
                    notification=notification,
                    channel=channel,
                    at=now,
                    ok=True,
                    status_code=sent.status_code,
                    duration_ms=duration_ms,
                )
                Notification.objects.filter(pk=notification.pk).update(
                    status=Notification.Status.SENT, sent_at=now, attempts=F("attempts") + 1, next_attempt_at=None
                )
                NotificationChannel.objects.filter(pk=channel.pk).update(last_success_at=now, failing_since=None, last_error="")
            return {"outcome": "sent", "channel": channel.name}
    except LockBusy:
        return {"outcome": "busy"}


def _record_failure(
    notification: Notification, channel: NotificationChannel, exc: DeliveryFailed, *, started: float, now: datetime
) -> dict[str, Any]:
    attempts = notification.attempts + 1
    retry_in = delivery_backoff_seconds(attempts)
    with transaction.atomic():
        Delivery.objects.create(
            notification=notification,
            channel=channel,
            at=now,
            ok=False,
            status_code=exc.status_code,
            error=str(exc)[:2000],
            duration_ms=int((time.monotonic() - started) * 1000),
        )
        Notification.objects.filter(pk=notification.pk).update(
            attempts=attempts, next_attempt_at=now + timedelta(seconds=retry_in)
        )
        NotificationChannel.objects.filter(pk=channel.pk, failing_since__isnull=True).update(failing_since=now)
        NotificationChannel.objects.filter(pk=channel.pk).update(last_error=str(exc)[:2000])
    logger.warning(
        "alert delivery failed", extra={"channel": channel.name, "notification": notification.pk, "attempts": attempts}
    )
    return {"outcome": "failed", "retry_in": retry_in, "error": str(exc)[:300]}


# --- operator actions on alerts --------------------------------------------------------------


def _event(alert: Alert, kind: str, actor: str, note: str = "") -> None:
    AlertEvent.objects.create(alert=alert, at=timezone.now(), kind=kind, actor=actor, note=note)


@transaction.atomic
def alert_acknowledge(*, alert: Alert, actor: str) -> Alert:
    """Stop reminders for an open (or snoozed) alert; it stays open until its condition clears."""
    alert = Alert.objects.select_for_update().get(pk=alert.pk)
    if alert.state == Alert.State.RESOLVED:
        raise AlertStateError("The alert is resolved.")
    if alert.state == Alert.State.ACKNOWLEDGED:
        return alert
    alert.state = Alert.State.ACKNOWLEDGED
    alert.acknowledged_at = timezone.now()
    alert.acknowledged_by = actor
    alert.snoozed_until = None
    alert.save(update_fields=["state", "acknowledged_at", "acknowledged_by", "snoozed_until"])
    _event(alert, AlertEvent.Kind.ACKNOWLEDGED, actor)
    audit_record(actor=actor, action="alert.acknowledge", target=alert)
    return alert


@transaction.atomic
def alert_snooze(*, alert: Alert, until: datetime, reason: str, actor: str) -> Alert:
    """Pause notifications until `until` (evaluation goes on; the alert resolves if it clears)."""
    if until <= timezone.now():
        raise AlertStateError("Snooze until a time in the future.")
    alert = Alert.objects.select_for_update().get(pk=alert.pk)
    if alert.state == Alert.State.RESOLVED:
        raise AlertStateError("The alert is resolved.")
    alert.state = Alert.State.SNOOZED
    alert.snoozed_until = until
    alert.snooze_reason = reason[:300]
    alert.snoozed_by = actor
    alert.save(update_fields=["state", "snoozed_until", "snooze_reason", "snoozed_by"])
    _event(alert, AlertEvent.Kind.SNOOZED, actor, f"until {until.isoformat()}: {reason}")
    audit_record(actor=actor, action="alert.snooze", target=alert, details={"until": until.isoformat(), "reason": reason})
    return alert


@transaction.atomic
def alert_resolve(*, alert: Alert, actor: str) -> Alert:
    """Close the alert by hand. If its condition still holds, the next evaluation opens a new one."""
    alert = Alert.objects.select_for_update().get(pk=alert.pk)
    if alert.state == Alert.State.RESOLVED:
        return alert
    alert.state = Alert.State.RESOLVED
    alert.resolved_at = timezone.now()
    alert.resolved_by = actor
    alert.save(update_fields=["state", "resolved_at", "resolved_by"])
    _event(alert, AlertEvent.Kind.RESOLVED, actor, "resolved by an operator")
    audit_record(actor=actor, action="alert.resolve", target=alert)
    return alert


# --- channels and rules --------------------------------------------------------------------------


@transaction.atomic
def channel_create(*, kind: str, name: str, target: str, secret: str = "", actor: str) -> NotificationChannel:
    """A new channel; raises ValueError (with a message to show) for a bad or refused target."""
    channel_validate_target(kind=kind, target=target)
    channel = NotificationChannel.objects.create(kind=kind, name=name, target=target, secret=secret)
    audit_record(actor=actor, action="alert_channel.create", target=channel, details={"kind": kind})
    return channel


def channel_audit_change(*, channel: NotificationChannel, actor: str, action: str, fields: list[str]) -> None:
    """Admin edits of a channel (the form saves it): which fields changed, never their values."""
    audit_record(actor=actor, action=action, target=channel, details={"fields": sorted(fields)})


@transaction.atomic
def channel_send_test(*, channel: NotificationChannel, actor: str) -> Notification:
    """Queue a test message through the channel (delivered, logged and retried like any other)."""
    now = timezone.now()
    payload = {
        "alert": None,
        "event": "test",
        "rule": "Test notification",
        "rule_kind": "test",
        "subject": channel.name,
        "subject_label": channel.name,
        "state": "test",
        "severity": "warning",
        "summary": f"Test notification from opsconsole, asked for by {actor}.",
        "opened_at": now.isoformat(),
        "resolved_at": None,
        "link": "",
    }
    notification = Notification.objects.create(
        channel=channel, kind=Notification.Kind.TEST, payload=payload, created_at=now, next_attempt_at=now
    )
    _queue(notification)
    audit_record(actor=actor, action="alert_channel.test", target=channel, details={"notification": notification.pk})
    return notification


def rule_audit_change(*, rule: AlertRule, actor: str, fields: list[str]) -> None:
    audit_record(actor=actor, action="alert_rule.change", target=rule, details={"fields": sorted(fields)})


def channels_failing(*, now: datetime | None = None) -> list[dict[str, Any]]:
    """Channels failing for longer than the shortest reminder interval of their rules (default 1 h)."""
    now = now or timezone.now()
    failing = []
    for channel in NotificationChannel.objects.filter(enabled=True, failing_since__isnull=False).prefetch_related("rules"):
        intervals = [rule.reminder_interval for rule in channel.rules.all() if rule.enabled]
        allowed = min(intervals) if intervals else timedelta(hours=1)
        assert channel.failing_since is not None
        if now - channel.failing_since > allowed:
            failing.append(
                {
                    "id": channel.pk,
                    "name": channel.name,
                    "kind": channel.kind,
                    "failing_since": channel.failing_since.isoformat(),
                    "last_error": channel.last_error[:300],
                }
            )
    return failing
