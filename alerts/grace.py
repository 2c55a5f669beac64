"""Startup grace: an evaluator that has just started, or a component that has just started, is not "gone".

On `make demo` (or any restart) the evaluator, the workers and beat come up within seconds of
each other; without a grace, the first evaluation sees no beat tick and no worker and pages
people for a boot. While this process started less than ALERT_STARTUP_GRACE_SECONDS ago,
`beat_gone` and `no_workers` do not fire for a component not seen since it started. A component
that was seen and then went away is reported as usual (its rule's `pending_for` still applies).
"""

from __future__ import annotations

import time
from datetime import UTC, datetime

from django.conf import settings

# When this process (a worker running the `evaluate_alerts` job, or `manage.py evaluate_alerts`) began evaluating.
_started_at: float = time.time()
_seen: set[str] = set()


def evaluator_started(*, at: float | None = None) -> None:
    """Mark this process as an evaluator that starts now (the command does; tests use it to set the clock)."""
    global _started_at
    _started_at = time.time() if at is None else at
    _seen.clear()


def evaluator_started_at() -> datetime:
    return datetime.fromtimestamp(_started_at, tz=UTC)


def in_startup_grace(now: datetime) -> bool:
    return now.timestamp() - _started_at < float(settings.ALERT_STARTUP_GRACE_SECONDS)


def component_seen(name: str) -> None:
    """A component (e.g. `workers`) answered since this evaluator started."""
    _seen.add(name)


def component_unseen_in_grace(name: str, *, now: datetime, last_seen: datetime | None = None) -> bool:
    """True while in the startup grace and `name` has not been seen since this evaluator started
    (`last_seen`: the component's own last sign of life, e.g. beat's last tick, when it has one)."""
    if not in_startup_grace(now):
        return False
    if last_seen is not None:
        return last_seen < evaluator_started_at()
    return name not in _seen
