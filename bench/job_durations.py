"""Job durations on the fleet's 100,000 runs: the p50/p95 query behind the periodic-task admin,
the dashboard's daily p95, and the JobSlow / JobFast conditions the evaluator runs every minute.

Each figure is the median of BENCH_REQUESTS calls (default 20) after two warm-ups; `plan` is the
scan PostgreSQL chose for the query that bounds the cost.
"""

from __future__ import annotations

import os
import statistics
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from bench.registry import Figures, register

REQUESTS = int(os.environ.get("BENCH_REQUESTS", "20"))


def _median_ms(call: Callable[[], Any]) -> float:
    for _ in range(2):
        call()
    timings = []
    for _ in range(REQUESTS):
        started = time.perf_counter()
        call()
        timings.append((time.perf_counter() - started) * 1000)
    return round(statistics.median(timings), 1)


def _scans(queryset: Any) -> list[str]:
    """The scan nodes of the plan PostgreSQL picks for `queryset`."""
    from django.db import connection

    sql, params = queryset.query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN " + sql, params)
        lines = [row[0].strip().removeprefix("->  ") for row in cursor.fetchall()]
    return [line.split("  (")[0] for line in lines if " Scan " in line]


@register("jobs.duration_stats")
def duration_stats() -> Figures:
    from jobs.models import JobRun
    from jobs.selectors import job_duration_stats

    return {
        "runs": JobRun.objects.count(),
        "jobs": len(job_duration_stats()),
        "median_ms": _median_ms(job_duration_stats),
        # 30 days is the whole retained history (RETENTION_JOB_RUNS_DAYS): a sequential scan is the plan.
    }


@register("jobs.duration_daily_p95")
def duration_daily() -> Figures:
    from jobs.selectors import job_duration_daily_p95

    return {"median_ms": _median_ms(job_duration_daily_p95)}


@register("alerts.job_duration_conditions")
def duration_conditions() -> Figures:
    from django.db.models import Q
    from django.utils import timezone

    from alerts.conditions import job_fast, job_slow
    from alerts.rules import RULES
    from jobs.models import JobRun

    params = {spec.kind: spec.params for spec in RULES if spec.kind in ("job_slow", "job_fast")}
    since = timezone.now() - timedelta(minutes=60)
    recent = JobRun.objects.filter(
        Q(status=JobRun.Status.RUNNING) | Q(status__in=[JobRun.Status.SUCCESS, JobRun.Status.FAILED], finished_at__gt=since)
    ).order_by()
    return {
        "job_slow_median_ms": _median_ms(lambda: job_slow(params["job_slow"], timezone.now())),
        "job_fast_median_ms": _median_ms(lambda: job_fast(params["job_fast"], timezone.now())),
        "recent_runs_plan": _scans(recent),
    }


@register("jobs.run_timeline")
def run_timeline() -> Figures:
    """The Run timeline's selector over the fleet's runs (a month of them): a day, and the widest
    window the page allows (more runs than one page draws: cut at GANTT_MAX_RUNS)."""
    from django.utils import timezone

    from jobs.models import JobRun
    from jobs.selectors import GANTT_MAX_WINDOW, job_runs_gantt

    now = timezone.now()
    figures: Figures = {}
    for label, window in (("day", timedelta(days=1)), ("widest", GANTT_MAX_WINDOW)):
        gantt = job_runs_gantt(since=now - window, until=now, now=now)
        figures[f"{label}_bars"] = sum(len(row["bars"]) for row in gantt["jobs"])
        figures[f"{label}_truncated"] = gantt["truncated"]
        figures[f"{label}_median_ms"] = _median_ms(lambda window=window: job_runs_gantt(since=now - window, until=now, now=now))
    figures["plan"] = _scans(
        JobRun.objects.filter(started_at__gte=now - timedelta(days=1), started_at__lt=now).order_by("started_at", "id")
    )
    return figures
