"""One function per rule kind: what is firing right now, read through the domain's selectors.

Each returns the firing subjects; a subject missing from the answer is a condition that has
cleared. A condition that cannot be read raises: the evaluator then leaves that rule's alerts
as they are instead of taking silence for recovery.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.conf import settings
from django.db.models import Avg

from alerts.models import AlertRule


@dataclass(frozen=True)
class Firing:
    subject: str
    label: str
    summary: str
    details: dict[str, Any] = field(default_factory=dict)


def _param(params: dict[str, Any], name: str, default: float) -> float:
    try:
        return float(params.get(name, default))
    except (TypeError, ValueError):
        return default


def job_failed(params: dict[str, Any], now: datetime) -> list[Firing]:
    """The last `times` finished runs of a job (every scheduled job, or `job`) all failed."""
    from jobs.models import JobRun
    from jobs.specs import JOBS

    times = max(1, int(_param(params, "times", 3)))
    names = [params["job"]] if params.get("job") else [job.name for job in JOBS]
    firing = []
    for name in names:
        statuses = list(
            JobRun.objects.filter(job_name=name, status__in=[JobRun.Status.SUCCESS, JobRun.Status.FAILED])
            .order_by("-finished_at", "-id")
            .values_list("status", "error")[:times]
        )
        if len(statuses) == times and all(status == JobRun.Status.FAILED for status, _ in statuses):
            last_error = (statuses[0][1].splitlines() or [""])[-1][:300]
            firing.append(Firing(name, name, f"{name} failed {times} times in a row: {last_error}", {"last_error": last_error}))
    return firing


def job_late(params: dict[str, Any], now: datetime) -> list[Firing]:
    from jobs.selectors import jobs_late

    return [
        Firing(row["name"], row["name"], f"{row['name']} is late: {row['reason']}", {"reason": row["reason"]})
        for row in jobs_late(now=now)
    ]


def circuit_open(params: dict[str, Any], now: datetime) -> list[Firing]:
    """Breakers not closed (open or probing) since longer than `minutes`."""
    from spotify.breaker import breaker_states

    minutes = _param(params, "minutes", 5)
    wall = now.timestamp() if now else time.time()
    firing = []
    for state in breaker_states():
        opened_at = state.get("opened_at")
        if state["state"] == "closed" or opened_at is None or wall - opened_at < minutes * 60:
            continue
        open_minutes = round((wall - opened_at) / 60, 1)
        firing.append(
            Firing(
                state["name"],
                state["name"],
                f"circuit {state['name']} {state['state']} for {open_minutes} min: {state.get('last_error', '')[:200]}",
                {"state": state["state"], "open_minutes": open_minutes, "opened_count": state["opened_count"]},
            )
        )
    return firing


def dead_letters(params: dict[str, Any], now: datetime) -> list[Firing]:
    from ingest.selectors import dead_letter_stats

    threshold = int(_param(params, "threshold", 100))
    stats = dead_letter_stats(now=now)
    total = stats["total_messages"]
    if total <= threshold:
        return []
    return [
        Firing(
            "dead_letters",
            "Dead letters",
            f"{total} dead letters pending (threshold {threshold})",
            {"total": total, "by_error_type": stats["by_error_type"]},
        )
    ]


def ingest_stalled(params: dict[str, Any], now: datetime) -> list[Firing]:
    from ingest.selectors import ingest_stalled as stalled_now

    stalled = stalled_now(now=now)
    if not stalled:
        return []
    summary = f"{stalled['queued']} album sources queued, none finished in {stalled['window_minutes']} min"
    return [Firing("ingest", "Album ingest", summary, stalled)]


def _accounts(health: str) -> list[Firing]:
    from accounts.models import SpotifyAccount

    accounts = SpotifyAccount.objects.filter(is_active=True, health=health).only("pk", "display_name", "health_reason")
    return [
        Firing(str(a.pk), a.display_name, f"{a.display_name}: {a.get_health_display()} {a.health_reason}".strip())
        for a in accounts.order_by("display_name")
    ]


def account_reauth_required(params: dict[str, Any], now: datetime) -> list[Firing]:
    from accounts.models import SpotifyAccount

    return _accounts(SpotifyAccount.Health.REAUTH_REQUIRED)


def account_quarantined(params: dict[str, Any], now: datetime) -> list[Firing]:
    from accounts.models import SpotifyAccount

    return _accounts(SpotifyAccount.Health.QUARANTINED)


def account_reauth_due(params: dict[str, Any], now: datetime) -> list[Firing]:
    """Refresh tokens die 6 months after authorization: warn `days` ahead."""
    from accounts.models import SpotifyAccount, reauth_due_soon_q

    days = _param(params, "days", settings.REAUTH_WARNING_DAYS)
    accounts = (
        SpotifyAccount.objects.filter(reauth_due_soon_q(now=now, days=days), is_active=True)
        .exclude(health=SpotifyAccount.Health.REAUTH_REQUIRED)
        .only("pk", "display_name", "authorized_at")
        .order_by("authorized_at")
    )
    return [
        Firing(
            str(a.pk),
            a.display_name,
            f"{a.display_name}: re-authorization due {a.reauth_due_at:%Y-%m-%d}",
            {"due_at": a.reauth_due_at.isoformat()},
        )
        for a in accounts
    ]


def connector_disabled(params: dict[str, Any], now: datetime) -> list[Firing]:
    from ingest.selectors import connector_health

    _, disabled = connector_health()
    return [Firing(i["connector"], i["connector"], f"connector {i['connector']} is disabled") for i in disabled]


def no_workers(params: dict[str, Any], now: datetime) -> list[Firing]:
    """No worker answers a ping. Only an evaluator outside the workers can see this (README "Alerts")."""
    from celery import current_app as app

    timeout = _param(params, "timeout_seconds", float(getattr(settings, "HEALTH_PING_TIMEOUT_SECONDS", 1.0)))
    if app.control.ping(timeout=timeout):
        return []
    return [Firing("workers", "Celery workers", "no Celery worker answers a ping")]


def beat_gone(params: dict[str, Any], now: datetime) -> list[Firing]:
    from jobs.beat import beat_status

    status = beat_status(now=now)
    if status["healthy"]:
        return []
    tick = status["last_beat_tick"]
    return [
        Firing("beat", "Celery beat", f"no beat tick since {tick.isoformat() if tick else 'ever'}", {"age_s": status["age_s"]})
    ]


def queue_length(params: dict[str, Any], now: datetime) -> list[Firing]:
    from jobs.queues import declared_queues, queue_lengths

    threshold = int(_param(params, "threshold", 1000))
    names = [params["queue"]] if params.get("queue") else declared_queues()
    return [
        Firing(name, name, f"queue {name}: {size} messages waiting (threshold {threshold})", {"size": size})
        for name, size in sorted(queue_lengths(names).items())
        if size > threshold
    ]


def data_quality(params: dict[str, Any], now: datetime) -> list[Firing]:
    """Average track quality score (0..100) below `threshold`, once at least `min_tracks` are scored."""
    from ingest.models import Track

    threshold = _param(params, "threshold", 60)
    min_tracks = int(_param(params, "min_tracks", 100))
    scored = Track.objects.filter(quality_score__isnull=False)
    if scored.count() < min_tracks:
        return []
    average = scored.aggregate(avg=Avg("quality_score"))["avg"] or 0.0
    if average >= threshold:
        return []
    return [Firing("tracks", "Track data quality", f"average quality score {average:.1f} < {threshold:g}", {"average": average})]


CONDITIONS: dict[str, Callable[[dict[str, Any], datetime], list[Firing]]] = {
    AlertRule.Kind.JOB_FAILED: job_failed,
    AlertRule.Kind.JOB_LATE: job_late,
    AlertRule.Kind.CIRCUIT_OPEN: circuit_open,
    AlertRule.Kind.DEAD_LETTERS: dead_letters,
    AlertRule.Kind.INGEST_STALLED: ingest_stalled,
    AlertRule.Kind.ACCOUNT_REAUTH_REQUIRED: account_reauth_required,
    AlertRule.Kind.ACCOUNT_REAUTH_DUE: account_reauth_due,
    AlertRule.Kind.ACCOUNT_QUARANTINED: account_quarantined,
    AlertRule.Kind.CONNECTOR_DISABLED: connector_disabled,
    AlertRule.Kind.NO_WORKERS: no_workers,
    AlertRule.Kind.BEAT_GONE: beat_gone,
    AlertRule.Kind.QUEUE_LENGTH: queue_length,
    AlertRule.Kind.DATA_QUALITY: data_quality,
}


def rule_firing(rule: AlertRule, *, now: datetime) -> dict[str, Firing]:
    """{subject: firing} for one rule; raises when the condition cannot be read."""
    return {f.subject: f for f in CONDITIONS[rule.kind](dict(rule.params or {}), now)}
