"""The incident timeline's selector (metrics.timeline) on the fleet: an hour, a day and the widest
window the API allows. Figures as in bench/job_durations.py (median of BENCH_REQUESTS calls; the
plans of the audit and failed-runs queries, the sources that grow with the fleet)."""

from __future__ import annotations

from datetime import timedelta

from bench import job_durations
from bench.registry import Figures, register


@register("metrics.incident_timeline")
def incident_timeline_case() -> Figures:
    """The incident timeline's selector over the fleet (its runs, audit rows, alerts, account
    health moves, process starts): an hour, a day and the widest window the API allows; each
    source cut at TIMELINE_SOURCE_LIMIT, and `truncated` names those that were."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext
    from django.utils import timezone

    from audit.models import AuditEvent
    from jobs.models import JobRun
    from metrics.timeline import TIMELINE_MAX_WINDOW, incident_timeline

    now = timezone.now()
    figures: Figures = {}
    for label, window in (("hour", timedelta(hours=1)), ("day", timedelta(days=1)), ("widest", TIMELINE_MAX_WINDOW)):
        with CaptureQueriesContext(connection) as queries:
            timeline = incident_timeline(since=now - window, until=now)
        figures[f"{label}_events"] = len(timeline["events"])
        figures[f"{label}_truncated"] = timeline["truncated"]
        figures[f"{label}_queries"] = len(queries.captured_queries)
        figures[f"{label}_median_ms"] = job_durations._median_ms(
            lambda window=window: incident_timeline(since=now - window, until=now)
        )
    since = now - timedelta(days=1)
    figures["audit_plan"] = job_durations._scans(
        AuditEvent.objects.filter(at__gte=since, at__lt=now).order_by("-at", "-id")[:1001]
    )
    figures["job_runs_plan"] = job_durations._scans(
        JobRun.objects.filter(status=JobRun.Status.FAILED, finished_at__gte=since, finished_at__lt=now).order_by(
            "-finished_at", "-id"
        )[:1001]
    )
    return figures
