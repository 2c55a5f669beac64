"""`alerts_evaluate`: hold alerts pending, open, remind, un-snooze and resolve them (the `evaluate_alerts` job).

Runs every minute under one Redis lock, so two workers (or a worker and `manage.py
evaluate_alerts`) never evaluate at once; the partial unique constraint on (rule, subject)
of unresolved alerts makes a twin impossible even if the lock were lost mid-run.
Each rule is evaluated in its own transaction: one unreadable condition neither blocks the
others nor resolves its own alerts (no data is not the same as recovery).

What people hear (docs/runbooks/alerts.md): an alert is `pending` until its condition has held
for the rule's `pending_for` and tells nobody; the alerts of one rule that open (resolve, are due
a reminder) in one evaluation go out as one message per channel; silences hold messages; an
alert that flaps stays open instead of mailing every flip.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from alerts.conditions import Firing, rule_firing
from alerts.models import Alert, AlertEvent, AlertRule, Notification
from alerts.services import STATE_SYNC_KINDS, alerts_notify, notifications_requeue_stuck, rule_notify_unreadable
from core.locks import LockBusy, redis_lock

logger = logging.getLogger(__name__)

LOCK_NAME = "alerts-evaluate"
LOCK_TTL_SECONDS = 120
# Flapping is counted over this window, and a flapping alert resolves once clear for as long.
FLAP_WINDOW = timedelta(hours=1)

COUNTS = ("rules", "pending", "dropped", "opened", "reminded", "resolved", "unsnoozed", "flapping", "errors", "requeued")


def alerts_evaluate(*, now: datetime | None = None) -> dict[str, Any]:
    """One evaluation of every rule. Returns counts; {"skipped": "busy"} when another evaluator runs."""
    try:
        with redis_lock(LOCK_NAME, ttl_seconds=LOCK_TTL_SECONDS):
            return _evaluate(now or timezone.now())
    except LockBusy:
        return {"skipped": "busy"}


def _evaluate(now: datetime) -> dict[str, Any]:
    counts = dict.fromkeys(COUNTS, 0)
    for rule in AlertRule.objects.all().order_by("name"):
        counts["rules"] += 1
        if not rule.enabled:
            counts["resolved"] += _resolve_all(rule, now, note="rule disabled")
            continue
        try:
            firing = rule_firing(rule, now=now)
        except Exception as exc:
            logger.exception("alert rule could not be evaluated", extra={"rule": rule.name})
            _record_unreadable(rule, f"{type(exc).__name__}: {exc}"[:2000], now)
            counts["errors"] += 1
            continue
        with transaction.atomic():
            for key, value in _apply(rule, firing, now).items():
                counts[key] += value
            AlertRule.objects.filter(pk=rule.pk).update(last_evaluated_at=now, last_error="", error_since=None)
            if rule.error_since is not None:
                # Readable again: whoever heard it could not be read hears that it can.
                rule_notify_unreadable(rule=rule, now=now, since=rule.error_since)
    with transaction.atomic():
        counts["requeued"] = notifications_requeue_stuck(now=now)
    return counts


@transaction.atomic
def _record_unreadable(rule: AlertRule, error: str, now: datetime) -> None:
    """Record why on the rule every time; tell its channels only when it starts (not every minute)."""
    started = AlertRule.objects.filter(pk=rule.pk, error_since__isnull=True).update(
        last_evaluated_at=now, last_error=error, error_since=now
    )
    if started:
        rule_notify_unreadable(rule=rule, now=now, error=error)
    else:
        AlertRule.objects.filter(pk=rule.pk).update(last_evaluated_at=now, last_error=error)


def _apply(rule: AlertRule, firing: dict[str, Firing], now: datetime) -> dict[str, int]:
    counts = dict.fromkeys(("pending", "dropped", "opened", "reminded", "resolved", "unsnoozed", "flapping"), 0)
    tracked = {alert.subject: alert for alert in Alert.objects.select_for_update().filter(rule=rule).unresolved()}
    opened: list[Alert] = []
    due_first: list[Alert] = []  # open alerts nobody heard of yet (a silence held their opening)
    due_reminder: list[Alert] = []
    resolved: list[Alert] = []  # everyone who heard of the opening hears of the recovery
    resolved_quiet: list[Alert] = []  # snoozed: only the channels that keep a page open elsewhere
    seen: list[Alert] = []  # tracked and still firing: last seen now
    reworded: list[Alert] = []  # of those, the ones whose summary or details changed
    for subject, fire in firing.items():
        alert = tracked.get(subject)
        if alert is None:
            alert = Alert.objects.create(
                rule=rule,
                subject=subject,
                subject_label=fire.label[:300],
                severity=rule.severity,
                state=Alert.State.PENDING,
                summary=fire.summary,
                details=fire.details,
                pending_since=now,
                opened_at=now,
                last_seen_at=now,
            )
            if rule.pending_for:
                note = f"opens if it still holds at {(now + rule.pending_for).isoformat()}: {fire.summary}"
                AlertEvent.objects.create(alert=alert, at=now, kind=AlertEvent.Kind.PENDING, actor="evaluator", note=note)
        else:
            if (alert.summary, alert.details) != (fire.summary, fire.details):
                alert.summary, alert.details = fire.summary, fire.details
                reworded.append(alert)
            alert.last_seen_at = now
            seen.append(alert)
        if alert.state == Alert.State.PENDING:
            assert alert.pending_since is not None
            if now - alert.pending_since >= rule.pending_for:
                alert.state, alert.opened_at = Alert.State.OPEN, now
                alert.save(update_fields=["state", "opened_at"])
                AlertEvent.objects.create(alert=alert, at=now, kind=AlertEvent.Kind.OPENED, actor="evaluator", note=fire.summary)
                opened.append(alert)
                counts["opened"] += 1
            else:
                counts["pending"] += 1
            continue
        if alert.state == Alert.State.SNOOZED and alert.snoozed_until is not None and alert.snoozed_until <= now:
            alert.state, alert.snoozed_until = Alert.State.OPEN, None
            alert.save(update_fields=["state", "snoozed_until"])
            AlertEvent.objects.create(alert=alert, at=now, kind=AlertEvent.Kind.UNSNOOZED, actor="evaluator")
            counts["unsnoozed"] += 1
        if alert.state != Alert.State.OPEN:
            continue
        if alert.last_notified_at is None:
            due_first.append(alert)
        elif now - alert.last_notified_at >= rule.reminder_interval:
            due_reminder.append(alert)
    # Two statements however many alerts stay open (one UPDATE each cost 600 a pass at 10M tracks).
    Alert.objects.filter(pk__in=[alert.pk for alert in seen]).update(last_seen_at=now)
    Alert.objects.bulk_update(reworded, ["summary", "details"])
    for subject, alert in tracked.items():
        if subject in firing:
            continue
        if alert.state == Alert.State.PENDING:
            alert.delete()  # it never opened: nobody hears of it, and it is no incident to keep
            counts["dropped"] += 1
        elif alert.flapping:
            if now - alert.last_seen_at >= FLAP_WINDOW:
                _sort(alert, resolved, resolved_quiet)
                _resolve(alert, now, note=f"condition clear for {FLAP_WINDOW} after flapping")
                counts["resolved"] += 1
        elif _flaps(alert, now) > int(settings.ALERT_FLAP_THRESHOLD):
            alert.flapping = True
            alert.save(update_fields=["flapping"])
            note = f"opened and resolved more than {settings.ALERT_FLAP_THRESHOLD} times within {FLAP_WINDOW}: stays open until clear for {FLAP_WINDOW}"
            AlertEvent.objects.create(alert=alert, at=now, kind=AlertEvent.Kind.FLAPPING, actor="evaluator", note=note)
            counts["flapping"] += 1
        else:
            _sort(alert, resolved, resolved_quiet)
            _resolve(alert, now, note="condition cleared")
            counts["resolved"] += 1
    alerts_notify(rule=rule, alerts=opened, kind=Notification.Kind.OPENED, now=now)
    alerts_notify(rule=rule, alerts=due_first, kind=Notification.Kind.OPENED, now=now, note_silenced=False)
    alerts_notify(rule=rule, alerts=due_reminder, kind=Notification.Kind.REMINDER, now=now, note_silenced=False)
    counts["reminded"] = sum(1 for alert in due_reminder if alert.last_notified_at == now)  # not held by a silence
    alerts_notify(rule=rule, alerts=resolved, kind=Notification.Kind.RESOLVED, now=now)
    alerts_notify(rule=rule, alerts=resolved_quiet, kind=Notification.Kind.RESOLVED, now=now, channel_kinds=STATE_SYNC_KINDS)
    return counts


def _flaps(alert: Alert, now: datetime) -> int:
    """How many times this rule and subject resolved within the window, counting this clearing."""
    earlier = Alert.objects.filter(
        rule_id=alert.rule_id,
        subject=alert.subject,
        state=Alert.State.RESOLVED,
        resolved_by="evaluator",
        resolved_at__gte=now - FLAP_WINDOW,
    ).count()
    return earlier + 1


def _sort(alert: Alert, loud: list[Alert], quiet: list[Alert]) -> None:
    """Before resolving: who hears of it. Nobody, if nobody heard of the opening; only PagerDuty
    and webhooks (so no page stays open there) if the alert is snoozed; else everyone."""
    if alert.last_notified_at is None:
        return
    (quiet if alert.state == Alert.State.SNOOZED else loud).append(alert)


def _resolve(alert: Alert, now: datetime, *, note: str) -> None:
    alert.state, alert.resolved_at, alert.resolved_by = Alert.State.RESOLVED, now, "evaluator"
    alert.save(update_fields=["state", "resolved_at", "resolved_by"])
    AlertEvent.objects.create(alert=alert, at=now, kind=AlertEvent.Kind.RESOLVED, actor="evaluator", note=note)


@transaction.atomic
def _resolve_all(rule: AlertRule, now: datetime, *, note: str) -> int:
    """A disabled rule's alerts resolve without a word to people (PagerDuty and webhooks are told,
    so no page stays open there); its pending ones are dropped."""
    alerts = list(Alert.objects.select_for_update().filter(rule=rule).unresolved())
    told: list[Alert] = []
    for alert in alerts:
        if alert.state == Alert.State.PENDING:
            alert.delete()
            continue
        _sort(alert, told, told)
        _resolve(alert, now, note=note)
    alerts_notify(rule=rule, alerts=told, kind=Notification.Kind.RESOLVED, now=now, channel_kinds=STATE_SYNC_KINDS)
    return sum(1 for alert in alerts if alert.state == Alert.State.RESOLVED)
