"""Reads about jobs: schedules, last runs and lateness (healthchecks.io's grace periods)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from django.db.models import Count, F, OuterRef, Q, Subquery
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
    now = now or timezone.now()
    spec = JOBS_BY_NAME.get(task.name)
    grace = spec.grace_minutes if spec else DEFAULT_GRACE_MINUTES
    if not task.enabled or task.crontab is None:
        return Lateness(False, grace_minutes=grace)
    expected = previous_fire_time(task.crontab.schedule, now - timedelta(minutes=grace))
    # A slot before the task was created or last changed by an operator is not owed a run.
    if expected is None or expected < task.date_changed:
        return Lateness(False, expected_at=expected, grace_minutes=grace)
    deadline = expected + timedelta(minutes=grace)
    job_name = task.task.rsplit(".", 1)[-1]
    run = (
        JobRun.objects.filter(job_name=job_name, started_at__gte=expected - EARLY_TOLERANCE)
        .order_by("started_at")
        .only("started_at", "finished_at", "status")
        .first()
    )
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


def jobs_overview(*, now: datetime | None = None) -> list[dict[str, Any]]:
    """Every periodic task with its schedule, last run and lateness, stalls included (for admin,
    API, health, alerts)."""
    now = now or timezone.now()
    tasks = PeriodicTask.objects.select_related("crontab", "interval").order_by("name")
    names = [t.task.rsplit(".", 1)[-1] for t in tasks]
    last_runs: dict[str, JobRun] = {}
    for run in JobRun.objects.filter(job_name__in=names).order_by("job_name", "-started_at").distinct("job_name"):
        last_runs[run.job_name] = run
    from jobs.models import JobPing

    pinged = set(JobPing.objects.values_list("job_name", flat=True))
    rows = []
    for task in tasks:
        job_name = task.task.rsplit(".", 1)[-1]
        lateness = job_lateness(task, now=now)
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


def job_failure_streaks(*, names: list[str]) -> dict[str, FailureStreak]:
    """Jobs whose latest finished run failed: the failed runs since their last success and the
    last error (the JobFailing alert and its gauge). Retrying and revoked runs do not count."""
    finished = JobRun.objects.filter(
        job_name__in=names, status__in=[JobRun.Status.SUCCESS, JobRun.Status.FAILED], finished_at__isnull=False
    )
    last_success = (
        finished.filter(job_name=OuterRef("job_name"), status=JobRun.Status.SUCCESS)
        .order_by("-finished_at")
        .values("finished_at")[:1]
    )
    failing = (
        finished.filter(status=JobRun.Status.FAILED)
        .annotate(since=Subquery(last_success))
        .filter(Q(since__isnull=True) | Q(finished_at__gt=F("since")))
    )
    counts = dict(failing.values_list("job_name").annotate(n=Count("pk")).order_by())
    last_errors = dict(failing.order_by("job_name", "-finished_at", "-id").distinct("job_name").values_list("job_name", "error"))
    return {
        name: FailureStreak(failed=int(count), last_error=(last_errors.get(name, "").splitlines() or [""])[-1][:300])
        for name, count in sorted(counts.items())
    }
