"""Writes of the alerting app: notifications and their delivery, operator actions on alerts,
channels and rules. Every operator action leaves one audit row."""

from __future__ import annotations

import logging
import time
from datetime import datetime, timedelta
from glob import escape as glob_escape
from typing import Any
from urllib.parse import urlencode

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import F, Q
from django.urls import NoReverseMatch, reverse
from django.utils import timezone

from alerts.channels import DeliveryFailed, channel_send, channel_validate_target
from alerts.models import (
    Alert,
    AlertEvent,
    AlertRule,
    AlertSilence,
    Delivery,
    Notification,
    NotificationChannel,
    Severity,
)
from audit.services import audit_record
from core.locks import LockBusy, redis_lock
from jobs.control import kill_switch_get
from jobs.models import JobRun
from jobs.services import job_enqueue_many

logger = logging.getLogger(__name__)

DELIVER_JOB = "alert_deliver"
# A pending notification nobody tried for this long lost its task (a broker wipe): queue it again.
STUCK_AFTER = timedelta(minutes=10)


class AlertStateError(ValueError):
    """The action does not apply to the alert's state (e.g. acknowledging a resolved alert)."""


# Operator-driven changes (acknowledge, resolve by hand) go only to channels that keep an incident's
# state elsewhere; the people on email and Slack do not need a message about their own action.
STATE_SYNC_KINDS = (NotificationChannel.Kind.PAGERDUTY, NotificationChannel.Kind.WEBHOOK)
# What each notification kind says about the state of its alerts (the filtered admin link).
KIND_STATE: dict[str, str] = {
    Notification.Kind.OPENED: Alert.State.OPEN,
    Notification.Kind.REMINDER: Alert.State.OPEN,
    Notification.Kind.ACKNOWLEDGED: Alert.State.ACKNOWLEDGED,
    Notification.Kind.RESOLVED: Alert.State.RESOLVED,
}


def _console_url(name: str, *args: Any) -> str:
    try:
        path = reverse(name, args=args)
    except NoReverseMatch:
        return ""
    return settings.ALERT_CONSOLE_URL.rstrip("/") + path


def alert_link(alert: Alert) -> str:
    return _console_url("admin:alerts_alert_change", alert.pk)


def rule_alerts_link(rule: AlertRule, *, state: str = "") -> str:
    """The admin's alert list filtered to the rule (and state): where a grouped message sends people."""
    base = _console_url("admin:alerts_alert_changelist")
    if not base:
        return ""
    query = {"rule__id__exact": rule.pk, **({"state__exact": state} if state else {})}
    return f"{base}?{urlencode(query)}"


def _alert_item(alert: Alert) -> dict[str, Any]:
    return {
        "alert": alert.pk,
        "dedup_key": alert.dedup_key,
        "subject": alert.subject,
        "subject_label": alert.subject_label,
        "state": alert.state,
        "severity": alert.severity,
        "summary": alert.summary,
        "opened_at": alert.opened_at.isoformat(),
        "resolved_at": alert.resolved_at.isoformat() if alert.resolved_at else None,
        "acknowledged_by": alert.acknowledged_by,
        "flapping": alert.flapping,
        "link": alert_link(alert),
    }


def notification_payload(*, rule: AlertRule, alerts: list[Alert], event: str, summary: str = "") -> dict[str, Any]:
    """The one message about `alerts` of `rule` that changed together (`event`: a Notification.Kind).
    A webhook receives it as JSON; email and Slack show `title` and the text of channels.message_text.
    docs/runbooks/alert-channels.md documents the shape (version 2)."""
    severities = {alert.severity for alert in alerts} or {rule.severity}
    severity = Severity.CRITICAL if Severity.CRITICAL in severities else severities.pop()
    state = KIND_STATE.get(event, "")
    if len(alerts) == 1:
        who, summary = alerts[0].subject_label or alerts[0].subject, summary or alerts[0].summary
    elif alerts:
        who, summary = f"{len(alerts)} alerts", summary or f"{len(alerts)} alerts {event}: {rule.description or rule.name}"
    else:
        who = "rule cannot be evaluated" if event == Notification.Kind.UNREADABLE else "rule can be evaluated again"
    return {
        "version": 2,
        "event": event,
        "title": f"[{severity.upper()}] {rule.name}: {who} ({event})",
        "rule": rule.name,
        "rule_id": rule.pk,
        "rule_kind": rule.kind,
        "severity": severity,
        "state": state,
        "summary": summary,
        "count": len(alerts),
        "link": rule_alerts_link(rule, state=state),
        "runbook": rule.runbook_url(),
        # Rule-level messages (no alert) carry their own key for PagerDuty.
        "dedup_key": "" if alerts else f"opsconsole-rule-{rule.pk}-unreadable",
        "alerts": [_alert_item(alert) for alert in alerts],
    }


def _queue(notifications: list[Notification]) -> None:
    if not notifications:
        return
    job_enqueue_many(
        DELIVER_JOB,
        trigger=JobRun.Trigger.CHAIN,
        triggered_by="alerts",
        kwargs_list=[{"notification_id": n.pk} for n in notifications],
        subjects=[{"notification": n.pk, "channel": n.channel_id} for n in notifications],
    )


def _silence_for(silences: list[AlertSilence], alert: Alert) -> AlertSilence | None:
    return next((silence for silence in silences if silence.matches(alert)), None)


# What the kill switch does on purpose (no run starts, queues fill, ingest waits) is no news to
# the on-call who threw it: while it is engaged these rules' alerts open and resolve in their
# timelines but notify no one (Alertmanager's inhibition). Still open after the resume, they notify.
HELD_BY_KILL_SWITCH = frozenset({"JobLate", "QueueBacklog", "ScraperStalled"})


def _kill_switch_hold(rule: AlertRule) -> str:
    """Why this rule's notifications are held now ("" when they are not)."""
    if rule.name not in HELD_BY_KILL_SWITCH:
        return ""
    switch = kill_switch_get()
    return f"held while the kill switch is engaged ({switch.reason})" if switch.engaged else ""


def silences_active_for_rule(*, rule: AlertRule, now: datetime) -> list[AlertSilence]:
    return list(AlertSilence.objects.active(now).filter(Q(rule=rule) | Q(rule__isnull=True)).order_by("pk"))


def alerts_notify(
    *,
    rule: AlertRule,
    alerts: list[Alert],
    kind: str,
    now: datetime,
    actor: str = "evaluator",
    channel_kinds: tuple[str, ...] = (),
    note_silenced: bool = True,
) -> list[Notification]:
    """Queue one notification per enabled channel of `rule` for all `alerts` that changed together
    (a PagerDuty channel: one per alert, its dedup_key being the alert's). Alerts under an active
    silence are left out and, when `note_silenced`, their timeline says which silence held them.
    Each notified alert's timeline says where it went. `channel_kinds` narrows the channels."""
    if not alerts:
        return []
    silences = silences_active_for_rule(rule=rule, now=now)
    held = _kill_switch_hold(rule)
    loud: list[Alert] = []
    events: list[AlertEvent] = []
    for alert in alerts:
        silence = _silence_for(silences, alert)
        if silence is None and not held:
            loud.append(alert)
        elif note_silenced:
            note = f"{kind}: silenced by #{silence.pk} ({silence.reason})" if silence else f"{kind}: {held}"
            events.append(AlertEvent(alert=alert, at=now, kind=AlertEvent.Kind.SILENCED, actor=actor, note=note))
    channels = rule.channels.filter(enabled=True).order_by("name")
    if channel_kinds:
        channels = channels.filter(kind__in=channel_kinds)
    if kind == Notification.Kind.REMINDER:
        # PagerDuty re-notifies by its own escalation policy; a re-trigger would only add noise.
        channels = channels.exclude(kind=NotificationChannel.Kind.PAGERDUTY)
    channel_list = list(channels)
    if not loud or (channel_kinds and not channel_list):
        AlertEvent.objects.bulk_create(events)
        return []
    notifications: list[Notification] = []
    links: list[Any] = []
    for channel in channel_list:
        groups = [[alert] for alert in loud] if channel.kind == NotificationChannel.Kind.PAGERDUTY else [loud]
        for group in groups:
            notification = Notification.objects.create(
                channel=channel,
                rule=rule,
                kind=kind,
                payload=notification_payload(rule=rule, alerts=group, event=kind),
                created_at=now,
                next_attempt_at=now,
            )
            notifications.append(notification)
            links.extend(Notification.alerts.through(notification_id=notification.pk, alert_id=a.pk) for a in group)
    Notification.alerts.through.objects.bulk_create(links, batch_size=1000)
    _queue(notifications)
    if kind != Notification.Kind.ACKNOWLEDGED:
        Alert.objects.filter(pk__in=[a.pk for a in loud]).update(last_notified_at=now)
        for alert in loud:
            alert.last_notified_at = now
    where = ", ".join(c.name for c in channel_list) if channel_list else "no channel configured"
    together = f" (one message for {len(loud)} alerts)" if len(loud) > 1 else ""
    events.extend(
        AlertEvent(alert=alert, at=now, kind=AlertEvent.Kind.NOTIFIED, actor=actor, note=f"{kind}: {where}{together}")
        for alert in loud
    )
    AlertEvent.objects.bulk_create(events, batch_size=1000)
    return notifications


def rule_notify_unreadable(
    *, rule: AlertRule, now: datetime, error: str = "", since: datetime | None = None
) -> list[Notification]:
    """Tell the rule's channels, once, that its condition cannot be read (`error`), or, given the
    `since` of an error that is over, that it can be read again. Held by an active silence of the
    whole rule (subject `*`)."""
    if any(silence.subject == "*" for silence in silences_active_for_rule(rule=rule, now=now)):
        return []
    if since is not None:
        kind = Notification.Kind.READABLE
        summary = f"{rule.name} can be evaluated again (it could not from {since:%Y-%m-%d %H:%M:%S} UTC)."
    else:
        kind = Notification.Kind.UNREADABLE
        summary = f"{rule.name} cannot be evaluated; its alerts stay as they are until it can. {error}"
    payload = notification_payload(rule=rule, alerts=[], event=kind, summary=summary)
    notifications = [
        Notification.objects.create(channel=channel, rule=rule, kind=kind, payload=payload, created_at=now, next_attempt_at=now)
        for channel in rule.channels.filter(enabled=True).order_by("name")
    ]
    _queue(notifications)
    return notifications


def notifications_requeue_stuck(*, now: datetime) -> int:
    """Pending notifications whose retry is long overdue get a new delivery task (nothing is dropped)."""
    stuck = list(Notification.objects.filter(status=Notification.Status.PENDING, next_attempt_at__lt=now - STUCK_AFTER))
    Notification.objects.filter(pk__in=[n.pk for n in stuck]).update(next_attempt_at=now)
    _queue(stuck)
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


def _check_opened(alert: Alert) -> None:
    if alert.state == Alert.State.RESOLVED:
        raise AlertStateError("The alert is resolved.")
    if alert.state == Alert.State.PENDING:
        raise AlertStateError("The alert is pending: it has not opened.")


@transaction.atomic
def alert_acknowledge(*, alert: Alert, actor: str) -> Alert:
    """Stop reminders for an open (or snoozed) alert; it stays open until its condition clears.
    PagerDuty and webhook channels hear of it (`acknowledged`), so the page stops escalating."""
    alert = Alert.objects.select_related("rule").select_for_update(of=("self",)).get(pk=alert.pk)
    _check_opened(alert)
    if alert.state == Alert.State.ACKNOWLEDGED:
        return alert
    now = timezone.now()
    alert.state = Alert.State.ACKNOWLEDGED
    alert.acknowledged_at = now
    alert.acknowledged_by = actor
    alert.snoozed_until = None
    alert.save(update_fields=["state", "acknowledged_at", "acknowledged_by", "snoozed_until"])
    _event(alert, AlertEvent.Kind.ACKNOWLEDGED, actor)
    audit_record(actor=actor, action="alert.acknowledge", target=alert)
    if alert.last_notified_at is not None:
        alerts_notify(
            rule=alert.rule,
            alerts=[alert],
            kind=Notification.Kind.ACKNOWLEDGED,
            now=now,
            actor=actor,
            channel_kinds=STATE_SYNC_KINDS,
        )
    return alert


@transaction.atomic
def alert_snooze(*, alert: Alert, until: datetime, reason: str, actor: str) -> Alert:
    """Pause notifications until `until` (evaluation goes on; the alert resolves if it clears)."""
    if until <= timezone.now():
        raise AlertStateError("Snooze until a time in the future.")
    alert = Alert.objects.select_for_update().get(pk=alert.pk)
    _check_opened(alert)
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
    """Close the alert by hand. If its condition still holds, the next evaluation opens a new one.
    PagerDuty and webhook channels hear of it (`resolved`), so no page stays open elsewhere."""
    alert = Alert.objects.select_related("rule").select_for_update(of=("self",)).get(pk=alert.pk)
    if alert.state == Alert.State.RESOLVED:
        return alert
    _check_opened(alert)
    now = timezone.now()
    alert.state = Alert.State.RESOLVED
    alert.resolved_at = now
    alert.resolved_by = actor
    alert.save(update_fields=["state", "resolved_at", "resolved_by"])
    _event(alert, AlertEvent.Kind.RESOLVED, actor, "resolved by an operator")
    audit_record(actor=actor, action="alert.resolve", target=alert)
    if alert.last_notified_at is not None:
        alerts_notify(
            rule=alert.rule, alerts=[alert], kind=Notification.Kind.RESOLVED, now=now, actor=actor, channel_kinds=STATE_SYNC_KINDS
        )
    return alert


# --- silences --------------------------------------------------------------------------------


def silence_check_matches(*, rule: AlertRule | None, subject: str) -> None:
    """Refuse a silence that silences nothing: one without a rule must be `*` or match the subject
    (or label) of an alert the console has seen. With a rule any pattern goes, since the subject
    may not have fired yet (an account about to be migrated). Raises ValidationError on `subject`."""
    if rule is not None or subject.strip() == "*":
        return
    probe = AlertSilence(subject=subject.strip())
    seen = Alert.objects.values_list("subject", "subject_label").distinct().iterator(chunk_size=2000)
    if not any(probe.matches_subject(name) or probe.matches_subject(label) for name, label in seen):
        raise ValidationError(
            {"subject": "Matches no alert the console has seen: name a rule, or use `*` to silence every rule."}
        )


@transaction.atomic
def silence_create(
    *,
    rule: AlertRule | None,
    subject: str,
    ends_at: datetime,
    reason: str,
    actor: str,
    starts_at: datetime | None = None,
) -> AlertSilence:
    """Hold the notifications of matching alerts from `starts_at` (default now) to `ends_at`
    (a later start is a maintenance window). Raises ValidationError with field errors."""
    silence = AlertSilence(
        rule=rule,
        subject=subject.strip() or "*",
        starts_at=starts_at or timezone.now(),
        ends_at=ends_at,
        reason=reason.strip(),
        created_by=actor,
    )
    silence.full_clean()
    silence_check_matches(rule=rule, subject=silence.subject)
    silence.save()
    audit_record(
        actor=actor,
        action="alert_silence.create",
        target=silence,
        details={
            "rule": rule.name if rule else None,
            "subject": silence.subject,
            "starts_at": silence.starts_at.isoformat(),
            "ends_at": silence.ends_at.isoformat(),
            "reason": silence.reason,
        },
    )
    return silence


@transaction.atomic
def silence_expire(*, silence: AlertSilence, actor: str) -> AlertSilence:
    """End a silence now (a scheduled one never starts). Raises AlertStateError when it has ended."""
    silence = AlertSilence.objects.select_for_update().get(pk=silence.pk)
    now = timezone.now()
    if silence.status_at(now) == AlertSilence.Status.EXPIRED:
        raise AlertStateError("The silence has already ended.")
    silence.expired_at, silence.expired_by = now, actor
    silence.save(update_fields=["expired_at", "expired_by"])
    audit_record(actor=actor, action="alert_silence.expire", target=silence, details={"ends_at": silence.ends_at.isoformat()})
    return silence


def alert_silence(*, alert: Alert, duration: timedelta, actor: str) -> AlertSilence:
    """Silence this alert's rule and exact subject for `duration` (the admin's "Silence for 2 h")."""
    silence = silence_create(
        rule=alert.rule,
        subject=glob_escape(alert.subject),
        ends_at=timezone.now() + duration,
        reason=f"Silenced from alert #{alert.pk} for {duration}",
        actor=actor,
    )
    _event(alert, AlertEvent.Kind.SILENCED, actor, f"silence #{silence.pk} until {silence.ends_at.isoformat()}")
    return silence


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
        "version": 2,
        "event": "test",
        "title": f"[INFO] Test notification: {channel.name} (test)",
        "rule": "Test notification",
        "rule_id": None,
        "rule_kind": "test",
        "severity": "info",
        "state": "test",
        "summary": f"Test notification from opsconsole, asked for by {actor}.",
        "count": 0,
        "link": "",
        "runbook": "",
        "dedup_key": f"opsconsole-test-{channel.pk}",
        "alerts": [],
    }
    notification = Notification.objects.create(
        channel=channel, kind=Notification.Kind.TEST, payload=payload, created_at=now, next_attempt_at=now
    )
    _queue([notification])
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
