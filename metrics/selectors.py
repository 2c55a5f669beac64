"""Reads of the observability app: the jobs overview with what only the domain knows."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.utils import timezone

from ingest.selectors import ingest_stalled
from opsconsole.jobs import selectors as job_selectors
from opsconsole.jobs.selectors import Lateness

# The job that owns the album-source queue: a stalled queue flags it late whatever its schedule says.
STALLED_JOB = "ingest_albums_from_sources"


def _stalled_lateness(lateness: Lateness, stalled: dict[str, Any]) -> Lateness:
    last = stalled["last_finished_at"] or "never"
    reason = f"stalled: {stalled['queued']} album sources queued, none finished in {stalled['window_minutes']} min (last finished: {last})"
    if lateness.late:
        reason = f"{reason}; {lateness.reason}"
    return Lateness(True, reason, lateness.expected_at, lateness.grace_minutes)


def jobs_overview(*, now: datetime | None = None) -> list[dict[str, Any]]:
    """Every periodic task with its schedule, last run and lateness, a stalled ingest included."""
    now = now or timezone.now()
    stalled = ingest_stalled(now=now)

    def late_because(job_name: str, lateness: Lateness) -> Lateness:
        return _stalled_lateness(lateness, stalled) if stalled and job_name == STALLED_JOB else lateness

    return job_selectors.jobs_overview(now=now, late_because=late_because)


def jobs_late(*, now: datetime | None = None) -> list[dict[str, Any]]:
    return [
        {"name": row["name"], "reason": row["late_reason"], "expected_at": row["late_expected_at"]}
        for row in jobs_overview(now=now)
        if row["late"]
    ]
