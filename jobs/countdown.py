"""The one cap on Celery countdowns: none may outlast the broker's visibility timeout.

A worker holds an ETA task unacknowledged until it runs; Redis hands an unacknowledged task to
another worker once `visibility_timeout` has passed, and again every time it passes after that.
A wait longer than the cap parks the work in the database (a `not_before` the scheduled jobs
read) instead; how long to wait is `spotify.retry.error_wait_seconds`.
"""

from __future__ import annotations

from django.conf import settings


def countdown_max_seconds() -> float:
    """The longest countdown a task may be given: the visibility timeout, less the task's hard
    time limit (it must also finish before the broker hands it out again), never under a minute."""
    visibility = float(settings.CELERY_BROKER_TRANSPORT_OPTIONS.get("visibility_timeout", 3600))  # type: ignore[arg-type]
    return max(60.0, visibility - float(settings.CELERY_TASK_TIME_LIMIT) - 60.0)


def countdown_capped(seconds: float) -> float:
    """`seconds` as a countdown: at most `countdown_max_seconds()` (the work re-checks its own
    schedule when it comes back early)."""
    return min(max(float(seconds), 0.0), countdown_max_seconds())


def countdown_fits(seconds: float) -> bool:
    """Whether a wait of `seconds` may be a countdown; beyond, park the work in the database."""
    return float(seconds) <= countdown_max_seconds()
