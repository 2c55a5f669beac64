"""One function per rule kind: what is firing right now, read through the domain's selectors.

Each returns the firing subjects; a subject missing from the answer is a condition that has
cleared. A condition that cannot be read raises: the evaluator then leaves that rule's alerts
as they are instead of taking silence for recovery. A condition gets its rule's parameters with
the kind's defaults filled in (`rule_params`, PARAM_DEFAULTS), as the Prometheus export does.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings

from alerts.models import AlertRule
from core.system import Usage


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
    from jobs.selectors import job_failure_streaks
    from jobs.specs import JOBS

    times = max(1, int(params["times"]))
    names = [params["job"]] if params["job"] else [job.name for job in JOBS]
    return [
        Firing(
            name,
            name,
            f"{name} failed {streak.failed} times in a row: {streak.last_error}",
            {"failed": streak.failed, "last_error": streak.last_error},
        )
        for name, streak in job_failure_streaks(names=names).items()
        if streak.failed >= times
    ]


def job_late(params: dict[str, Any], now: datetime) -> list[Firing]:
    from jobs.selectors import jobs_late

    return [
        Firing(row["name"], row["name"], f"{row['name']} is late: {row['reason']}", {"reason": row["reason"]})
        for row in jobs_late(now=now)
    ]


def circuit_open(params: dict[str, Any], now: datetime) -> list[Firing]:
    """Breakers not closed (open or probing) since longer than `minutes`."""
    from spotify.breaker import breaker_open_seconds, breaker_states

    minutes = params["minutes"]
    wall = now.timestamp() if now else time.time()
    firing = []
    for state in breaker_states():
        open_seconds = breaker_open_seconds(state, at=wall)
        if state["state"] == "closed" or open_seconds < minutes * 60:
            continue
        open_minutes = round(open_seconds / 60, 1)
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

    threshold = int(params["threshold"])
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
    from accounts.models import REFRESH_TOKEN_LIFETIME, SpotifyAccount

    days = params["days"]
    cutoff = now - REFRESH_TOKEN_LIFETIME + timedelta(days=days)
    accounts = (
        SpotifyAccount.objects.filter(is_active=True, authorized_at__lte=cutoff)
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
    """No worker answers a ping. Only an evaluator outside the workers can see this (docs/runbooks/alerts.md)."""
    from celery import current_app as app

    timeout = params["timeout_seconds"]
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

    threshold = int(params["threshold"])
    names = [params["queue"]] if params["queue"] else declared_queues()
    return [
        Firing(name, name, f"queue {name}: {size} messages waiting (threshold {threshold})", {"size": size})
        for name, size in sorted(queue_lengths(names).items())
        if size > threshold
    ]


def data_quality(params: dict[str, Any], now: datetime) -> list[Firing]:
    """Average track quality score (0..100) below `threshold`, once at least `min_tracks` are scored."""
    from ingest.quality import tracks_quality_average

    threshold = params["threshold"]
    scored, average = tracks_quality_average()
    if scored < params["min_tracks"] or average is None or average >= threshold:
        return []
    return [Firing("tracks", "Track data quality", f"average quality score {average:.1f} < {threshold:g}", {"average": average})]


# --- The rest of seed 003's alert index: Spotify success rate, database, disk, memory, API ---


def enrichment_success_low(params: dict[str, Any], now: datetime) -> list[Firing]:
    """Calls of `source` that ended in the telemetry window: succeeded below `threshold` %,
    once at least `min_calls` ended (a handful of calls is no rate)."""
    from spotify.telemetry import CALLS_WINDOW_MINUTES, telemetry_call_rates

    source = params["source"]
    rate = telemetry_call_rates().get(source)
    if rate is None or rate.success_ratio is None or rate.finished < params["min_calls"]:
        return []
    if rate.success_ratio * 100 >= params["threshold"]:
        return []
    summary = (
        f"{source} calls: {rate.success_ratio:.0%} succeeded in the last {CALLS_WINDOW_MINUTES} min "
        f"({rate.succeeded} of {rate.finished}; {rate.failed} failed, {rate.skipped} skipped; threshold {params['threshold']:g} %)"
    )
    details = {
        "succeeded": rate.succeeded,
        "failed": rate.failed,
        "skipped": rate.skipped,
        "window_minutes": CALLS_WINDOW_MINUTES,
    }
    return [Firing(source, f"{source} calls", summary, details)]


def _usages_above(usages: list[Usage], percent: float, what: Callable[[Usage], str]) -> list[Firing]:
    return [
        Firing(
            u.subject,
            u.label,
            f"{u.label}: {what(u)} at {u.ratio:.1%} (threshold {percent:g} %)",
            {"used": u.used, "limit": u.limit, "ratio": round(u.ratio, 4)},
        )
        for u in usages
        if u.ratio * 100 > percent
    ]


def db_connections_high(params: dict[str, Any], now: datetime) -> list[Firing]:
    """Client connections to PostgreSQL above `threshold` % of its max_connections."""
    from core.system import database_connections

    return _usages_above(
        [database_connections()], params["threshold"], lambda u: f"{u.used:.0f} of max_connections {u.limit:.0f}"
    )


def disk_space_high(params: dict[str, Any], now: datetime) -> list[Firing]:
    """The database's data directory disk (when local and readable) or var/'s above `threshold` % used."""
    from core.system import disk_usages

    return _usages_above(disk_usages(), params["threshold"], lambda u: f"disk {u.used / 2**30:.1f} of {u.limit / 2**30:.1f} GiB")


def memory_high(params: dict[str, Any], now: datetime) -> list[Firing]:
    """This machine's memory above `threshold` %, or a worker's largest pool process above
    `worker_threshold` % of WORKER_MEMORY_LIMIT_MB."""
    from core.system import host_memory, worker_memory

    host = _usages_above(
        [host_memory()], params["threshold"], lambda u: f"memory {u.used / 2**30:.1f} of {u.limit / 2**30:.1f} GiB"
    )
    workers = _usages_above(
        worker_memory(),
        params["worker_threshold"],
        lambda u: f"largest pool process {u.used / 2**20:.0f} MiB of WORKER_MEMORY_LIMIT_MB {u.limit / 2**20:.0f}",
    )
    return host + workers


def api_error_rate_high(params: dict[str, Any], now: datetime) -> list[Firing]:
    """Responses under /api/ in the window: 5xx above `threshold` %, once at least `min_requests`."""
    from core.middleware import API_RESPONSES_WINDOW_MINUTES, api_response_rate

    rate = api_response_rate()
    if rate.error_ratio is None or rate.total < params["min_requests"] or rate.error_ratio * 100 <= params["threshold"]:
        return []
    errors = rate.by_class.get("5xx", 0)
    summary = (
        f"API: {rate.error_ratio:.1%} of responses were 5xx in the last {API_RESPONSES_WINDOW_MINUTES} min "
        f"({errors} of {rate.total}; threshold {params['threshold']:g} %)"
    )
    return [Firing("api", "API", summary, {"by_class": rate.by_class, "window_minutes": API_RESPONSES_WINDOW_MINUTES})]


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
    AlertRule.Kind.ENRICHMENT_SUCCESS_LOW: enrichment_success_low,
    AlertRule.Kind.DB_CONNECTIONS_HIGH: db_connections_high,
    AlertRule.Kind.DISK_SPACE_HIGH: disk_space_high,
    AlertRule.Kind.MEMORY_HIGH: memory_high,
    AlertRule.Kind.API_ERROR_RATE_HIGH: api_error_rate_high,
}

# Each kind's parameters and their defaults: what an empty or unreadable value means. A
# callable default is read when the rule is (a setting).
PARAM_DEFAULTS: dict[str, dict[str, Any]] = {
    AlertRule.Kind.JOB_FAILED: {"times": 3, "job": ""},
    AlertRule.Kind.CIRCUIT_OPEN: {"minutes": 5},
    AlertRule.Kind.DEAD_LETTERS: {"threshold": 100},
    AlertRule.Kind.ACCOUNT_REAUTH_DUE: {"days": lambda: settings.REAUTH_WARNING_DAYS},
    AlertRule.Kind.NO_WORKERS: {"timeout_seconds": lambda: float(getattr(settings, "HEALTH_PING_TIMEOUT_SECONDS", 1.0))},
    AlertRule.Kind.QUEUE_LENGTH: {"threshold": 1000, "queue": ""},
    AlertRule.Kind.DATA_QUALITY: {"threshold": 70, "min_tracks": 100},
    AlertRule.Kind.ENRICHMENT_SUCCESS_LOW: {"threshold": 70, "min_calls": 20, "source": "spotify"},
    AlertRule.Kind.DB_CONNECTIONS_HIGH: {"threshold": 80},
    AlertRule.Kind.DISK_SPACE_HIGH: {"threshold": 85},
    AlertRule.Kind.MEMORY_HIGH: {"threshold": 90, "worker_threshold": 100},
    AlertRule.Kind.API_ERROR_RATE_HIGH: {"threshold": 10, "min_requests": 20},
}


def rule_params(kind: str, params: dict[str, Any] | None) -> dict[str, Any]:
    """A rule's parameters with its kind's defaults filled in; a number that does not read as
    one, or a text that is not text, falls back to its default."""
    merged = dict(params or {})
    for name, default in PARAM_DEFAULTS.get(kind, {}).items():
        value = default() if callable(default) else default
        raw = merged.get(name, value)
        if isinstance(value, str):
            merged[name] = raw if isinstance(raw, str) else value
        else:
            merged[name] = _param(merged, name, float(value))
    return merged


def rule_firing(rule: AlertRule, *, now: datetime) -> dict[str, Firing]:
    """{subject: firing} for one rule; raises when the condition cannot be read."""
    return {f.subject: f for f in CONDITIONS[rule.kind](rule_params(rule.kind, rule.params), now)}
