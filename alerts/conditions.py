"""One function per rule kind: what is firing right now, read through the domain's selectors.

Each returns the firing subjects; a subject missing from the answer is a condition that has
cleared. A condition that cannot be read raises: the evaluator then leaves that rule's alerts
as they are instead of taking silence for recovery. A condition gets its rule's parameters with
the kind's defaults filled in (`rule_params`, PARAM_DEFAULTS), as the Prometheus export does.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.db.models import Q

from alerts.grace import component_seen, component_unseen_in_grace
from alerts.models import AlertRule
from core.system import Usage

if TYPE_CHECKING:
    from ingest.quality import QualityTally


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

    # `health` read with the rest: get_health_display() on a deferred field cost a query per account.
    accounts = SpotifyAccount.objects.filter(is_active=True, health=health).only("pk", "display_name", "health", "health_reason")
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

    days = params["days"]
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
    """Every worker's heartbeat has expired. Only an evaluator outside the workers can see this (docs/runbooks/alerts.md)."""
    from jobs.heartbeat import workers_alive

    if workers_alive():
        component_seen("workers")
        return []
    if component_unseen_in_grace("workers", now=now):
        return []  # the workers may still be starting (alerts/grace.py)
    return [Firing("workers", "Celery workers", "no Celery worker heartbeat")]


def beat_gone(params: dict[str, Any], now: datetime) -> list[Firing]:
    from jobs.beat import beat_status

    status = beat_status(now=now)
    if status["healthy"]:
        return []
    tick = status["last_beat_tick"]
    if component_unseen_in_grace("beat", now=now, last_seen=tick or datetime.min.replace(tzinfo=UTC)):
        return []  # no tick since this evaluator started: beat may still be starting (alerts/grace.py)
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


# Where DataQualityScoreLow reads the quality tally: the hourly metric snapshot's, whose reader
# metrics (the layer above) registers at startup. Unregistered, the tracks are counted at each
# evaluation: 4.3 s a pass at 10M tracks (BENCHMARKS.md), hence the snapshot.
_quality_tally_source: Callable[[], QualityTally] | None = None


def quality_tally_source_register(source: Callable[[], QualityTally]) -> None:
    global _quality_tally_source
    _quality_tally_source = source


def data_quality(params: dict[str, Any], now: datetime) -> list[Firing]:
    """Average track quality score (0..100) below `threshold`, once at least `min_tracks` are scored,
    as the latest hourly metric snapshot counted them (an hour old at most while `metrics_snapshot`
    runs; JobLate says when it does not)."""
    from ingest.quality import tracks_quality_tally

    tally = (_quality_tally_source or tracks_quality_tally)()
    threshold, average = params["threshold"], tally.average
    if tally.scored < params["min_tracks"] or average is None or average >= threshold:
        return []
    details = {"average": average, "scored": tally.scored, "counted_at": tally.counted_at.isoformat()}
    return [Firing("tracks", "Track data quality", f"average quality score {average:.1f} < {threshold:g}", details)]


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


def login_failure_minutes(params: dict[str, Any]) -> int:
    """A LoginFailureBurst rule's window, within what the per-minute counters keep."""
    from core.counters import MINUTE_BUCKETS_KEPT

    return min(max(1, int(params["minutes"])), MINUTE_BUCKETS_KEPT)


def login_failure_windows() -> list[int]:
    """The windows of the enabled LoginFailureBurst rules: /metrics exports a reading for each."""
    rules = AlertRule.objects.filter(kind=AlertRule.Kind.LOGIN_FAILURE_BURST, enabled=True).values_list("params", flat=True)
    return sorted({login_failure_minutes(rule_params(AlertRule.Kind.LOGIN_FAILURE_BURST, params)) for params in rules})


def login_failure_burst(params: dict[str, Any], now: datetime) -> list[Firing]:
    """At least `failures` failed sign-ins (admin passwords and API tokens together) within the
    last `minutes`: someone guessing, spread over usernames or addresses the lockout counts apart."""
    from core.lockout import login_failures_recent

    minutes = login_failure_minutes(params)
    by_door = login_failures_recent(minutes=minutes)
    total = sum(by_door.values())
    threshold = max(1, int(params["failures"]))
    if total < threshold:
        return []
    doors = ", ".join(f"{door} {count}" for door, count in sorted(by_door.items()))
    summary = f"{total} failed sign-ins in the last {minutes} min ({doors}; threshold {threshold})"
    return [Firing("logins", "Staff sign-ins", summary, {"by_door": by_door, "minutes": minutes})]


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
    AlertRule.Kind.LOGIN_FAILURE_BURST: login_failure_burst,
}

# Each kind's parameters and their defaults: what an empty or unreadable value means. A
# callable default is read when the rule is (a setting).
PARAM_DEFAULTS: dict[str, dict[str, Any]] = {
    AlertRule.Kind.JOB_FAILED: {"times": 3, "job": ""},
    AlertRule.Kind.CIRCUIT_OPEN: {"minutes": 5},
    AlertRule.Kind.DEAD_LETTERS: {"threshold": 100},
    AlertRule.Kind.ACCOUNT_REAUTH_DUE: {"days": lambda: settings.REAUTH_WARNING_DAYS},
    AlertRule.Kind.QUEUE_LENGTH: {"threshold": 1000, "queue": ""},
    AlertRule.Kind.DATA_QUALITY: {"threshold": 70, "min_tracks": 100},
    AlertRule.Kind.ENRICHMENT_SUCCESS_LOW: {"threshold": 70, "min_calls": 20, "source": "spotify"},
    AlertRule.Kind.DB_CONNECTIONS_HIGH: {"threshold": 80},
    AlertRule.Kind.DISK_SPACE_HIGH: {"threshold": 85},
    AlertRule.Kind.MEMORY_HIGH: {"threshold": 90, "worker_threshold": 100},
    AlertRule.Kind.API_ERROR_RATE_HIGH: {"threshold": 10, "min_requests": 20},
    AlertRule.Kind.LOGIN_FAILURE_BURST: {"failures": 20, "minutes": 10},
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


# Job durations (docs/runbooks/job-durations.md): Cronitor-style, each job against its own history.

MAX_FLOOR_SECONDS = 86_400


class RuleParamsError(ValueError):
    """Parameters a rule's kind refuses, {param: why}: field errors where rules are edited, and the
    rule's `last_error` if bad ones reach the evaluator anyway."""

    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__("; ".join(f"{name}: {why}" for name, why in errors.items()))
        self.errors = errors


class _Params:
    """Reads one rule's params: known names only, each within its range, every error collected."""

    def __init__(self, params: dict[str, Any], known: tuple[str, ...]) -> None:
        self.params = params
        self.errors: dict[str, str] = {}
        unknown = sorted(set(params) - set(known))
        if unknown:
            self.errors["params"] = f"unknown parameter {', '.join(unknown)}; this kind takes {', '.join(known)}"

    @staticmethod
    def _is_number(value: Any) -> bool:
        return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)

    def number(self, name: str, default: float, *, low: float, high: float, above: bool = False) -> float:
        value = self.params.get(name, default)
        if self._is_number(value) and (value > low if above else value >= low) and value <= high:
            return float(value)
        self.errors[name] = f"a number {'above' if above else 'from'} {low:g} {'and at most' if above else 'to'} {high:g}"
        return default

    def whole(self, name: str, default: int, *, low: int, high: int) -> int:
        value = self.params.get(name, default)
        if self._is_number(value) and float(value).is_integer() and low <= value <= high:
            return int(value)
        self.errors[name] = f"a whole number from {low} to {high}"
        return default

    def seconds(self, name: str, value: Any) -> float | None:
        if self._is_number(value) and 0 <= value <= MAX_FLOOR_SECONDS:
            return float(value)
        self.errors[name] = f"seconds, a number from 0 to {MAX_FLOOR_SECONDS}"
        return None

    def done(self) -> None:
        if self.errors:
            raise RuleParamsError(self.errors)


@dataclass(frozen=True)
class JobSlowParams:
    factor: float = 2.0
    window_days: int = 7
    min_runs: int = 5
    min_seconds: float = 10.0
    recent_minutes: int = 60


@dataclass(frozen=True)
class JobFastParams:
    default_floor: float | None = None
    floors: dict[str, float] = field(default_factory=dict)
    window_days: int = 7
    min_runs: int = 5
    recent_minutes: int = 60

    def floor_for(self, job_name: str, *, scheduled: bool) -> float | None:
        """A job's own floor, else the default for a scheduled job: per-item tasks a job chains
        (one playlist's sync, one token) are quick whenever there is little to do."""
        return self.floors.get(job_name, self.default_floor if scheduled else None)


def job_slow_params(params: dict[str, Any]) -> JobSlowParams:
    """`factor` k (1 < k <= 100), `window_days` of history (1..90), `min_runs` of it (a job with
    fewer never fires), `min_seconds` (shorter runs are never slow: milliseconds jitter),
    `recent_minutes` (runs finished this recently, or running, are judged)."""
    d = JobSlowParams()
    read = _Params(params, ("factor", "window_days", "min_runs", "min_seconds", "recent_minutes"))
    parsed = JobSlowParams(
        factor=read.number("factor", d.factor, low=1, high=100, above=True),
        window_days=read.whole("window_days", d.window_days, low=1, high=90),
        min_runs=read.whole("min_runs", d.min_runs, low=1, high=100_000),
        min_seconds=read.number("min_seconds", d.min_seconds, low=0, high=MAX_FLOOR_SECONDS),
        recent_minutes=read.whole("recent_minutes", d.recent_minutes, low=1, high=1440),
    )
    read.done()
    return parsed


def job_fast_params(params: dict[str, Any]) -> JobFastParams:
    """`floor_seconds`: {"default": seconds or null, "jobs": {"<job>": seconds}} (the default is every
    scheduled job's; a job's own floor wins, 0 turns it off), `window_days` / `min_runs` as for
    job_slow (0 runs: the floor alone), `recent_minutes`."""
    d = JobFastParams()
    read = _Params(params, ("floor_seconds", "window_days", "min_runs", "recent_minutes"))
    floors = params.get("floor_seconds", {})
    default_floor, per_job = None, {}
    if not isinstance(floors, dict) or set(floors) - {"default", "jobs"}:
        read.errors["floor_seconds"] = 'an object {"default": seconds or null, "jobs": {"<job name>": seconds}}'
    else:
        if floors.get("default") is not None:
            default_floor = read.seconds("floor_seconds.default", floors["default"])
        jobs = floors.get("jobs", {})
        if not isinstance(jobs, dict):
            read.errors["floor_seconds.jobs"] = 'an object {"<job name>": seconds}'
        else:
            for job_name, seconds in jobs.items():
                floor = read.seconds(f"floor_seconds.jobs.{job_name}", seconds)
                if floor is not None:
                    per_job[job_name] = floor
    parsed = JobFastParams(
        default_floor=default_floor,
        floors=per_job,
        window_days=read.whole("window_days", d.window_days, low=1, high=90),
        min_runs=read.whole("min_runs", d.min_runs, low=0, high=100_000),
        recent_minutes=read.whole("recent_minutes", d.recent_minutes, low=1, high=1440),
    )
    read.done()
    return parsed


def job_slow(params: dict[str, Any], now: datetime) -> list[Firing]:
    """A run running, or finished in the last `recent_minutes`, that took more than `factor` × its
    job's p95 over the `window_days` before them (and over `min_seconds`); the slowest per job."""
    from jobs.models import JobRun
    from jobs.selectors import duration_text, job_duration_stats

    p = job_slow_params(params)
    since = now - timedelta(minutes=p.recent_minutes)
    runs = JobRun.objects.filter(
        Q(status=JobRun.Status.RUNNING, started_at__isnull=False)
        | Q(status__in=[JobRun.Status.SUCCESS, JobRun.Status.FAILED], finished_at__gt=since, duration_ms__isnull=False)
    ).only("job_name", "task_id", "status", "started_at", "duration_ms")
    took = {
        run: (now - run.started_at).total_seconds() * 1000 if run.status == JobRun.Status.RUNNING else float(run.duration_ms or 0)
        for run in runs.order_by()
        if run.started_at is not None
    }
    if not took:
        return []
    # The history before the judged runs: a slow run never raises its own bar.
    history = job_duration_stats(days=(p.window_days,), now=since, job_names=sorted({run.job_name for run in took}))
    slowest: dict[str, tuple[Any, float, Any]] = {}
    for run, ms in took.items():
        stats = history.get(run.job_name, {}).get(p.window_days)
        if stats is None or stats.runs < p.min_runs or stats.p95_ms is None:
            continue
        if ms > p.factor * stats.p95_ms and ms > p.min_seconds * 1000 and ms > slowest.get(run.job_name, (None, 0.0))[1]:
            slowest[run.job_name] = (run, ms, stats)
    firing = []
    for job_name, (run, ms, stats) in sorted(slowest.items()):
        running = run.status == JobRun.Status.RUNNING
        ratio = ms / stats.p95_ms if stats.p95_ms else float("inf")
        summary = (
            f"{job_name} {'has been running for' if running else 'took'} {duration_text(ms)}, {ratio:.1f}× its "
            f"{p.window_days}-day p95 of {duration_text(stats.p95_ms)} ({stats.runs} runs)"
        )
        details = {
            "task_id": run.task_id,
            "run_id": run.pk,
            "running": running,
            "duration_ms": round(ms),
            "p50_ms": stats.p50_ms,
            "p95_ms": stats.p95_ms,
            "runs": stats.runs,
            "factor": p.factor,
            "window_days": p.window_days,
        }
        firing.append(Firing(job_name, job_name, summary, details))
    return firing


def job_fast(params: dict[str, Any], now: datetime) -> list[Firing]:
    """A successful run finished in the last `recent_minutes` under its job's floor (a sync that
    did nothing) while the job's median over the `window_days` before is at or above that floor
    (a job that is always that quick is not suspicious); the quickest per job."""
    from jobs.models import JobRun
    from jobs.selectors import duration_text, job_duration_stats
    from jobs.specs import JOBS_BY_NAME

    p = job_fast_params(params)
    since = now - timedelta(minutes=p.recent_minutes)
    names = set(p.floors) | (set(JOBS_BY_NAME) if p.default_floor is not None else set())
    # A run that says why it did nothing (`skipped`: another worker holds the job's lock, a
    # connector is off) is not one that silently did nothing (found by the chaos soak: the fetches
    # skipped while a killed run's lock outlived it paged JobFast).
    runs = JobRun.objects.filter(
        status=JobRun.Status.SUCCESS, finished_at__gt=since, duration_ms__isnull=False, job_name__in=sorted(names)
    ).exclude(summary__has_key="skipped")
    quick = [
        (run, floor)
        for run in runs.order_by().only("job_name", "task_id", "duration_ms")
        if (floor := p.floor_for(run.job_name, scheduled=run.job_name in JOBS_BY_NAME)) and (run.duration_ms or 0) < floor * 1000
    ]
    if not quick:
        return []
    history = job_duration_stats(days=(p.window_days,), now=since, job_names=sorted({run.job_name for run, _ in quick}))
    quickest: dict[str, tuple[Any, float, Any]] = {}
    for run, floor in quick:
        stats = history.get(run.job_name, {}).get(p.window_days)
        if p.min_runs and (stats is None or stats.runs < p.min_runs or (stats.p50_ms or 0) < floor * 1000):
            continue
        if run.job_name not in quickest or run.duration_ms < quickest[run.job_name][0].duration_ms:
            quickest[run.job_name] = (run, floor, stats)
    firing = []
    for job_name, (run, floor, stats) in sorted(quickest.items()):
        usual = f" ({p.window_days}-day median {duration_text(stats.p50_ms)})" if stats and stats.p50_ms is not None else ""
        summary = (
            f"{job_name} finished in {duration_text(run.duration_ms)}, under its floor of {floor:g} s{usual}: did it do nothing?"
        )
        details = {
            "task_id": run.task_id,
            "run_id": run.pk,
            "duration_ms": run.duration_ms,
            "floor_seconds": floor,
            "p50_ms": stats.p50_ms if stats else None,
            "runs": stats.runs if stats else 0,
        }
        firing.append(Firing(job_name, job_name, summary, details))
    return firing


CONDITIONS[AlertRule.Kind.JOB_SLOW] = job_slow
CONDITIONS[AlertRule.Kind.JOB_FAST] = job_fast

# Kinds whose params are checked before a rule is saved (and before it is evaluated).
PARAMS_CHECKS: dict[str, Callable[[dict[str, Any]], object]] = {
    AlertRule.Kind.JOB_SLOW: job_slow_params,
    AlertRule.Kind.JOB_FAST: job_fast_params,
}


def rule_params_errors(kind: str, params: Any) -> dict[str, str]:
    """Why `params` cannot be those of a `kind` rule, {param: why}; {} when they can."""
    check = PARAMS_CHECKS.get(kind)
    if check is None:
        return {}
    if not isinstance(params, dict):
        return {"params": 'an object of parameters, e.g. {"factor": 2}'}
    try:
        check(params)
    except RuleParamsError as exc:
        return exc.errors
    return {}
