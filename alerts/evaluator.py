"""`alerts_evaluate`: open, remind, un-snooze and resolve alerts (the `evaluate_alerts` job).

Runs every minute under one Redis lock, so two workers (or a worker and `manage.py
evaluate_alerts`) never evaluate at once; the partial unique constraint on (rule, subject)
of unresolved alerts makes a twin impossible even if the lock were lost mid-run.
Each rule is evaluated in its own transaction: one unreadable condition neither blocks the
others nor resolves its own alerts (no data is not the same as recovery).
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from django.db import transaction
from django.utils import timezone

from alerts.conditions import Firing, rule_firing
from alerts.models import Alert, AlertEvent, AlertRule
from alerts.services import alert_notify, notifications_requeue_stuck
from core.locks import LockBusy, redis_lock

logger = logging.getLogger(__name__)

LOCK_NAME = "alerts-evaluate"
LOCK_TTL_SECONDS = 120


def alerts_evaluate(*, now: datetime | None = None) -> dict[str, Any]:
    """One evaluation of every rule. Returns counts; {"skipped": "busy"} when another evaluator runs."""
    try:
        with redis_lock(LOCK_NAME, ttl_seconds=LOCK_TTL_SECONDS):
            return _evaluate(now or timezone.now())
    except LockBusy:
        return {"skipped": "busy"}


def _evaluate(now: datetime) -> dict[str, Any]:
    counts = {"rules": 0, "opened": 0, "reminded": 0, "resolved": 0, "unsnoozed": 0, "errors": 0, "requeued": 0}
    for rule in AlertRule.objects.all().order_by("name"):
        counts["rules"] += 1
        if not rule.enabled:
            counts["resolved"] += _resolve_all(rule, now, note="rule disabled", notify=False)
            continue
        try:
            firing = rule_firing(rule, now=now)
        except Exception as exc:
            logger.exception("alert rule could not be evaluated", extra={"rule": rule.name})
            AlertRule.objects.filter(pk=rule.pk).update(last_evaluated_at=now, last_error=f"{type(exc).__name__}: {exc}"[:2000])
            counts["errors"] += 1
            continue
        with transaction.atomic():
            for key, value in _apply(rule, firing, now).items():
                counts[key] += value
            AlertRule.objects.filter(pk=rule.pk).update(last_evaluated_at=now, last_error="")
    with transaction.atomic():
        counts["requeued"] = notifications_requeue_stuck(now=now)
    return counts


def _apply(rule: AlertRule, firing: dict[str, Firing], now: datetime) -> dict[str, int]:
    counts = {"opened": 0, "reminded": 0, "resolved": 0, "unsnoozed": 0}
    active = {
        alert.subject: alert for alert in Alert.objects.select_for_update().filter(rule=rule).exclude(state=Alert.State.RESOLVED)
    }
    for subject, fire in firing.items():
        alert = active.get(subject)
        if alert is None:
            alert = Alert.objects.create(
                rule=rule,
                subject=subject,
                subject_label=fire.label[:300],
                severity=rule.severity,
                summary=fire.summary,
                details=fire.details,
                opened_at=now,
                last_seen_at=now,
            )
            AlertEvent.objects.create(alert=alert, at=now, kind=AlertEvent.Kind.OPENED, actor="evaluator", note=fire.summary)
            alert_notify(alert=alert, kind="opened", now=now)
            counts["opened"] += 1
            continue
        alert.summary, alert.details, alert.last_seen_at = fire.summary, fire.details, now
        alert.save(update_fields=["summary", "details", "last_seen_at"])
        if alert.state == Alert.State.SNOOZED and alert.snoozed_until is not None and alert.snoozed_until <= now:
            alert.state, alert.snoozed_until = Alert.State.OPEN, None
            alert.save(update_fields=["state", "snoozed_until"])
            AlertEvent.objects.create(alert=alert, at=now, kind=AlertEvent.Kind.UNSNOOZED, actor="evaluator")
            counts["unsnoozed"] += 1
        due = alert.last_notified_at is None or now - alert.last_notified_at >= rule.reminder_interval
        if alert.state == Alert.State.OPEN and due:
            alert_notify(alert=alert, kind="reminder", now=now)
            counts["reminded"] += 1
    for subject, alert in active.items():
        if subject not in firing:
            _resolve(alert, now, note="condition cleared", notify=alert.state != Alert.State.SNOOZED)
            counts["resolved"] += 1
    return counts


def _resolve(alert: Alert, now: datetime, *, note: str, notify: bool) -> None:
    alert.state, alert.resolved_at, alert.resolved_by = Alert.State.RESOLVED, now, "evaluator"
    alert.save(update_fields=["state", "resolved_at", "resolved_by"])
    AlertEvent.objects.create(alert=alert, at=now, kind=AlertEvent.Kind.RESOLVED, actor="evaluator", note=note)
    if notify:
        # The recovery notice: whoever was paged learns it is over.
        alert_notify(alert=alert, kind="resolved", now=now)


@transaction.atomic
def _resolve_all(rule: AlertRule, now: datetime, *, note: str, notify: bool) -> int:
    alerts = list(Alert.objects.select_for_update().filter(rule=rule).exclude(state=Alert.State.RESOLVED))
    for alert in alerts:
        _resolve(alert, now, note=note, notify=notify)
    return len(alerts)
