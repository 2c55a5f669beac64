"""Reads about jobs: schedules, last runs and lateness (healthchecks.io's grace periods)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import connection
from django.db.models import Aggregate, Count, FloatField, Q, QuerySet
from django.db.models.functions import TruncDate
from django.utils import timezone
from django_celery_beat.models import PeriodicTask

from jobs.models import JobRun
from jobs.specs import JOBS_BY_NAME

DEFAULT_GRACE_MINUTES = 30
# A run that starts a little before its slot (clock skew between beat and the DB) still counts.
EARLY_TOLERANCE = timedelta(minutes=2)


def _slots(schedule: Any, day: date) -> list[datetime]:
    """The times a celery crontab (UTC) fires on one day, in order."""
    cron_dow = (day.weekday() + 1) % 7  # cron counts Sunday as 0
    if day.month not in schedule.month_of_year or day.day not in schedule.day_of_month or cron_dow not in schedule.day_of_week:
        return []
    return [
        datetime(day.year, day.month, day.day, hour, minute, tzinfo=UTC)
        for hour in sorted(schedule.hour)
        for minute in sorted(schedule.minute)
    ]


def previous_fire_time(schedule: Any, before: datetime) -> datetime | None:
    """Latest time <= `before` matching a celery crontab (UTC), looking back 8 days."""
    before = before.astimezone(UTC).replace(second=0, microsecond=0)
    for days_back in range(9):
        earlier = [slot for slot in _slots(schedule, (before - timedelta(days=days_back)).date()) if slot <= before]
        if earlier:
            return earlier[-1]
    return None


def next_fire_time(schedule: Any, after: datetime) -> datetime | None:
    """First time > `after` matching a celery crontab (UTC), looking ahead 8 days."""
    after = after.astimezone(UTC).replace(second=0, microsecond=0)
    for days_ahead in range(9):
        later = [slot for slot in _slots(schedule, (after + timedelta(days=days_ahead)).date()) if slot > after]
        if later:
            return later[0]
    return None


@dataclass
class Lateness:
    late: bool
    reason: str = ""
    expected_at: datetime | None = None
    grace_minutes: int = DEFAULT_GRACE_MINUTES


def job_lateness(task: PeriodicTask, *, now: datetime | None = None) -> Lateness:
    """Late: the last slot whose grace has passed saw no run start, or its run has not finished."""
    return jobs_lateness([task], now=now)[task.pk]


def jobs_lateness(tasks: Iterable[PeriodicTask], *, now: datetime | None = None) -> dict[int, Lateness]:
    """`job_lateness` of many tasks, {task pk: Lateness}, their runs read in one query (a changelist page)."""
    now = now or timezone.now()
    answers: dict[int, Lateness] = {}
    owed: list[tuple[PeriodicTask, str, datetime, int]] = []
    for task in tasks:
        spec = JOBS_BY_NAME.get(task.name)
        grace = spec.grace_minutes if spec else DEFAULT_GRACE_MINUTES
        if not task.enabled or task.crontab is None:
            answers[task.pk] = Lateness(False, grace_minutes=grace)
            continue
        expected = previous_fire_time(task.crontab.schedule, now - timedelta(minutes=grace))
        # A slot before the task was created or last changed by an operator is not owed a run.
        if expected is None or expected < task.date_changed:
            answers[task.pk] = Lateness(False, expected_at=expected, grace_minutes=grace)
            continue
        owed.append((task, task.task.rsplit(".", 1)[-1], expected, grace))
    since: dict[str, datetime] = {}
    for _, job_name, expected, _ in owed:
        since[job_name] = min(since.get(job_name, expected), expected) - EARLY_TOLERANCE
    # Each job's first run since its owed slot: one probe per job on the (job_name, started_at)
    # index, joined by UNION ALL (as jobs_last_run); DISTINCT ON over an OR of the jobs read every
    # run of the window (38 ms a call on the x10 bench fleet: /health, the dashboard, each alert pass).
    probes = [
        JobRun.objects.filter(job_name=name, started_at__gte=start)
        .order_by("started_at")
        .only("job_name", "started_at", "finished_at", "status")[:1]
        for name, start in sorted(since.items())
    ]
    first_runs: dict[str, JobRun] = {run.job_name: run for run in probes[0].union(*probes[1:], all=True)} if probes else {}
    for task, job_name, expected, grace in owed:
        run = first_runs.get(job_name)
        if run is not None and run.started_at is not None and run.started_at < expected - EARLY_TOLERANCE:
            # Two tasks run the same job on different schedules: this one's slot is later.
            run = (
                JobRun.objects.filter(job_name=job_name, started_at__gte=expected - EARLY_TOLERANCE)
                .order_by("started_at")
                .only("started_at", "finished_at", "status")
                .first()
            )
        answers[task.pk] = _lateness(run, expected, grace, now)
    return answers


def _lateness(run: JobRun | None, expected: datetime, grace: int, now: datetime) -> Lateness:
    deadline = expected + timedelta(minutes=grace)
    if run is None or run.started_at is None or run.started_at > deadline:
        return Lateness(True, f"no run started within {grace} min of {expected:%Y-%m-%d %H:%M} UTC", expected, grace)
    if run.finished_at is None and now > deadline and run.status in (JobRun.Status.RUNNING, JobRun.Status.RETRYING):
        return Lateness(True, f"run started {run.started_at:%H:%M} UTC has not finished within {grace} min", expected, grace)
    return Lateness(False, expected_at=expected, grace_minutes=grace)


# Stall probes by job name: an app whose job owns a queue flags the job late when the queue stalls,
# whatever the schedule says (ingest registers one in its AppConfig.ready).
_STALL_PROBES: dict[str, Callable[[datetime], str | None]] = {}


def job_stall_probe_register(job_name: str, probe: Callable[[datetime], str | None]) -> None:
    """`probe(now)` returns why the job's work is stalled, or None while it moves."""
    _STALL_PROBES[job_name] = probe


def _stalled_lateness(job_name: str, lateness: Lateness, now: datetime) -> Lateness:
    probe = _STALL_PROBES.get(job_name)
    stalled = probe(now) if probe else None
    if stalled is None:
        return lateness
    reason = f"{stalled}; {lateness.reason}" if lateness.late else stalled
    return Lateness(True, reason, lateness.expected_at, lateness.grace_minutes)


# Every job name in the history, found by skipping through the job_name index (a loose index
# scan: one probe per name, where SELECT DISTINCT reads every entry).
_JOB_NAMES_SQL = """
WITH RECURSIVE names(job_name) AS (
    (SELECT job_name FROM {table} ORDER BY job_name LIMIT 1)
    UNION ALL
    SELECT (SELECT r.job_name FROM {table} r WHERE r.job_name > names.job_name ORDER BY r.job_name LIMIT 1)
    FROM names WHERE names.job_name IS NOT NULL
)
SELECT job_name FROM names WHERE job_name IS NOT NULL
"""


def job_names() -> list[str]:
    """Every job name with a run in the history, sorted."""
    with connection.cursor() as cursor:
        cursor.execute(_JOB_NAMES_SQL.format(table=connection.ops.quote_name(JobRun._meta.db_table)))
        return [row[0] for row in cursor.fetchall()]


def jobs_last_run(*, names: Iterable[str]) -> dict[str, JobRun]:
    """{job name: its newest run} (JobRun's order: by start, a run not started yet first), in one
    query: a UNION ALL of one probe per name on the (job_name, started_at) index, each part planned
    with its own name's statistics. DISTINCT ON (job_name) read every run of the jobs instead (70 ms
    on the bench fleet's 100,000, at each /health, alert pass and scrape)."""
    probes = [JobRun.objects.filter(job_name=name).order_by("-started_at", "-id")[:1] for name in sorted(set(names))]
    if not probes:
        return {}
    return {run.job_name: run for run in probes[0].union(*probes[1:], all=True)}


def jobs_overview(*, now: datetime | None = None) -> list[dict[str, Any]]:
    """Every periodic task with its schedule, last run and lateness, stalls included (for admin,
    API, health, alerts)."""
    now = now or timezone.now()
    tasks = list(PeriodicTask.objects.select_related("crontab", "interval").order_by("name"))
    last_runs = jobs_last_run(names=[t.task.rsplit(".", 1)[-1] for t in tasks])
    lateness_of = jobs_lateness(tasks, now=now)
    from jobs.models import JobPing

    pinged = set(JobPing.objects.values_list("job_name", flat=True))
    rows = []
    for task in tasks:
        job_name = task.task.rsplit(".", 1)[-1]
        lateness = lateness_of[task.pk]
        if task.enabled:
            lateness = _stalled_lateness(job_name, lateness, now)
        last = last_runs.get(job_name)
        crontab = task.crontab
        rows.append(
            {
                "name": task.name,
                "task": task.task,
                "enabled": task.enabled,
                "description": task.description,
                "schedule": str(crontab.human_readable) if crontab else str(task.interval or ""),
                "crontab": f"{crontab.minute} {crontab.hour} {crontab.day_of_month} {crontab.month_of_year} {crontab.day_of_week}"
                if crontab
                else None,
                "timezone": str(crontab.timezone) if crontab else "UTC",
                "last_run_at": task.last_run_at,
                "total_run_count": task.total_run_count,
                "next_run_at": next_fire_time(crontab.schedule, now) if crontab and task.enabled else None,
                "last_status": last.status if last else None,
                "last_started_at": last.started_at if last else None,
                "last_duration_ms": last.duration_ms if last else None,
                "last_error": last.error[:500] if last else "",
                "ping_url_set": job_name in pinged,
                **{f"late_{k}" if k != "late" else "late": v for k, v in asdict(lateness).items()},
            }
        )
    return rows


def jobs_late(*, now: datetime | None = None) -> list[dict[str, Any]]:
    return [
        {"name": row["name"], "reason": row["late_reason"], "expected_at": row["late_expected_at"]}
        for row in jobs_overview(now=now)
        if row["late"]
    ]


@dataclass(frozen=True)
class FailureStreak:
    failed: int
    last_error: str


# Per job, three probes of the (job_name, status, finished_at) index: its last success, the
# failures finished after it and the newest of those. What it reads is the streak it judges; the
# ORM's version (the last success as a subquery per failed run, then DISTINCT ON over them) read
# every failed run kept, 1.3 s a query on the x10 bench fleet (BENCHMARKS.md). One part per job,
# its name a constant, joined by UNION ALL: each part is planned with that name's statistics. A
# LATERAL over the names made the planner walk the (status, finished_at) index for a name with no
# success at all, through every job's successes (0.7 s on the x10 fleet).
_FAILURE_STREAK_PART = """
(SELECT %(name{n})s::varchar AS job_name, f.failed, e.error
FROM (
    SELECT (
        SELECT r.finished_at FROM {table} r
        WHERE r.job_name = %(name{n})s AND r.status = %(success)s AND r.finished_at IS NOT NULL
        ORDER BY r.finished_at DESC LIMIT 1
    ) AS finished_at
) s
CROSS JOIN LATERAL (
    SELECT COUNT(*) AS failed FROM {table} r
    WHERE r.job_name = %(name{n})s AND r.status = %(failed)s AND r.finished_at > COALESCE(s.finished_at, '-infinity')
) f
CROSS JOIN LATERAL (
    SELECT r.error FROM {table} r
    WHERE r.job_name = %(name{n})s AND r.status = %(failed)s AND r.finished_at > COALESCE(s.finished_at, '-infinity')
    ORDER BY r.finished_at DESC, r.id DESC LIMIT 1
) e
WHERE f.failed > 0)
"""


def job_failure_streaks(*, names: list[str]) -> dict[str, FailureStreak]:
    """Jobs whose latest finished run failed: the failed runs since their last success and the
    last error (the JobFailing alert and its gauge). Retrying and revoked runs do not count.
    One query whatever the number of jobs or runs."""
    names = sorted(set(names))
    if not names:
        return {}
    table = connection.ops.quote_name(JobRun._meta.db_table)
    sql = " UNION ALL ".join(_FAILURE_STREAK_PART.format(n=n, table=table) for n in range(len(names)))
    params: dict[str, Any] = {"success": JobRun.Status.SUCCESS, "failed": JobRun.Status.FAILED}
    params.update({f"name{n}": name for n, name in enumerate(names)})
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        rows = cursor.fetchall()
    return {
        name: FailureStreak(failed=int(count), last_error=(error.splitlines() or [""])[-1][:300])
        for name, count, error in sorted(rows)
    }


class Percentile(Aggregate):
    """PostgreSQL's `percentile_cont(f) WITHIN GROUP (ORDER BY x)`: interpolated, like numpy's default."""

    function = "percentile_cont"
    template = "%(function)s(%(fraction)s) WITHIN GROUP (ORDER BY %(expressions)s)"
    output_field = FloatField()

    def __init__(self, expression: str, fraction: float, **extra: Any) -> None:
        if not 0 <= fraction <= 1:
            raise ValueError("fraction must be within 0..1")
        super().__init__(expression, fraction=float(fraction), **extra)


@dataclass(frozen=True)
class DurationStats:
    """Successful runs of one job over a window: how many, and their median and p95 in ms."""

    runs: int
    p50_ms: float | None
    p95_ms: float | None


DURATION_WINDOWS_DAYS = (7, 30)


def duration_text(ms: float) -> str:
    """12 ms, 3.4 s, 5.2 min, 1.5 h."""
    if ms < 1000:
        return f"{ms:.0f} ms"
    if ms < 60_000:
        return f"{ms / 1000:.1f} s"
    if ms < 3_600_000:
        return f"{ms / 60_000:.1f} min"
    return f"{ms / 3_600_000:.1f} h"


def _successful_runs(since: datetime, until: datetime) -> QuerySet[JobRun]:
    """Successful runs finished in (since, until]: a run counts once it has its duration."""
    return JobRun.objects.filter(
        status=JobRun.Status.SUCCESS, finished_at__gt=since, finished_at__lte=until, duration_ms__isnull=False
    ).order_by()  # no Meta.ordering in the GROUP BY


def job_duration_stats(
    *, days: tuple[int, ...] = DURATION_WINDOWS_DAYS, now: datetime | None = None, job_names: list[str] | None = None
) -> dict[str, dict[int, DurationStats]]:
    """{job_name: {days: DurationStats}} of successful runs finished in (now - days, now], every
    window in one query grouped by job name (the admin columns, the job_slow/job_fast rules).
    A job without a successful run in the widest window is absent."""
    now = now or timezone.now()
    if not days or min(days) < 1:
        raise ValueError("days must be positive")
    runs = _successful_runs(now - timedelta(days=max(days)), now)
    if job_names is not None:
        runs = runs.filter(job_name__in=job_names)
    aggregates: dict[str, Any] = {}
    for window in days:
        recent = Q(finished_at__gt=now - timedelta(days=window))
        # duration_ms (never null here), not the id: the (job_name, status, finished_at) index
        # holds every column read, so the window is an index-only scan in job order (no heap, no sort).
        aggregates[f"runs_{window}"] = Count("duration_ms", filter=recent)
        aggregates[f"p50_{window}"] = Percentile("duration_ms", 0.5, filter=recent)
        aggregates[f"p95_{window}"] = Percentile("duration_ms", 0.95, filter=recent)
    rows: list[dict[str, Any]] = list(runs.values("job_name").annotate(**aggregates))  # type: ignore[arg-type]
    return {
        row["job_name"]: {
            window: DurationStats(row[f"runs_{window}"], row[f"p50_{window}"], row[f"p95_{window}"]) for window in days
        }
        for row in rows
    }


def job_duration_daily_p95(*, days: int = 30, now: datetime | None = None) -> dict[str, Any]:
    """Daily p95 (ms) of successful runs per job over the last `days` UTC days, today included:
    {"days": ["YYYY-MM-DD", ...], "jobs": {job_name: [p95 or None per day]}} (the dashboard's chart)."""
    now = now or timezone.now()
    first = now.astimezone(UTC).date() - timedelta(days=days - 1)
    labels = [first + timedelta(days=n) for n in range(days)]
    since = datetime(first.year, first.month, first.day, tzinfo=UTC) - timedelta(microseconds=1)
    rows = (
        _successful_runs(since, now)
        .annotate(day=TruncDate("finished_at", tzinfo=UTC))
        .values("job_name", "day")
        .annotate(p95=Percentile("duration_ms", 0.95))
    )
    jobs: dict[str, list[float | None]] = {}
    index = {day: n for n, day in enumerate(labels)}
    for row in rows:
        series = jobs.setdefault(row["job_name"], [None] * days)
        if row["day"] in index:
            series[index[row["day"]]] = row["p95"]
    return {"days": [day.isoformat() for day in labels], "jobs": dict(sorted(jobs.items()))}


# --- the run timeline (a Gantt view of runs over a window) -------------------------------------

GANTT_MAX_WINDOW = timedelta(days=7)
GANTT_MAX_RUNS = 5000


@dataclass(frozen=True)
class GanttBar:
    run_id: int
    status: str
    start: datetime
    end: datetime
    running: bool
    lane: int


def job_runs_gantt(
    *, since: datetime, until: datetime, now: datetime | None = None, limit: int = GANTT_MAX_RUNS
) -> dict[str, Any]:
    """The runs that overlap [since, until), a row per job and a bar per run, each bar on the
    first lane of its row that is free when it starts, so overlapping runs of one job show side by
    side. One query over the started_at index: a run that started before `since` is looked for
    only as far back as the hard time limit (CELERY_TASK_TIME_LIMIT), which no run outlives."""
    now = now or timezone.now()
    longest = timedelta(seconds=float(settings.CELERY_TASK_TIME_LIMIT))
    rows = list(
        JobRun.objects.filter(started_at__gte=since - longest, started_at__lt=until)
        .order_by("started_at", "id")
        .values_list("id", "job_name", "status", "started_at", "finished_at")[: limit + 1]
    )
    truncated = len(rows) > limit
    lanes: dict[str, list[datetime]] = {}
    bars: dict[str, list[GanttBar]] = {}
    for run_id, job_name, status, started_at, finished_at in rows[:limit]:
        assert started_at is not None  # the filter above is on started_at
        running = finished_at is None and status == JobRun.Status.RUNNING
        end = finished_at or (now if running else started_at)
        if end < since:
            continue
        ends = lanes.setdefault(job_name, [])
        lane = next((i for i, busy_until in enumerate(ends) if busy_until <= started_at), len(ends))
        if lane == len(ends):
            ends.append(end)
        else:
            ends[lane] = end
        bars.setdefault(job_name, []).append(GanttBar(run_id, status, started_at, end, running, lane))
    return {
        "since": since,
        "until": until,
        "truncated": truncated,
        "jobs": [{"job": name, "lanes": len(lanes[name]), "bars": bars[name]} for name in sorted(bars)],
    }
