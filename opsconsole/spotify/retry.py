"""The retry arithmetic both the client and the token endpoint use."""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Mapping

from django.conf import settings

from opsconsole.counters import counter_inc

logger = logging.getLogger("opsconsole.spotify")


def backoff_seconds(attempt: int) -> float:
    """Exponential backoff with full jitter (AWS's "full jitter"): uniform in
    [0, base * 2**(attempt-1)], never above the sleep ceiling."""
    cap = min(float(settings.SPOTIFY_MAX_SLEEP_SECONDS), float(settings.SPOTIFY_BACKOFF_BASE) * 2 ** (attempt - 1))
    return random.uniform(0, cap)


def retry_after_seconds(headers: Mapping[str, str] | None) -> float | None:
    """Retry-After in seconds, or None when absent or unreadable (an HTTP date is not
    something Spotify sends)."""
    if not headers:
        return None
    value = headers.get("Retry-After") or headers.get("retry-after")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None


def pause(seconds: float, *, reason: str, endpoint: str = "", attempt: int = 0) -> None:
    """Sleep before a retry; the total is counted so tests and dashboards see the waiting."""
    logger.info(
        "spotify retry",
        extra={"endpoint": endpoint, "reason": reason, "attempt": attempt, "sleep_seconds": round(seconds, 3)},
    )
    counter_inc("spotify_backoff_seconds_total", seconds, reason=reason)
    if seconds > 0:
        time.sleep(seconds)
