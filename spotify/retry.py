"""The retry arithmetic both the client and the token endpoint use."""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Mapping

from django.conf import settings

from core.counters import counter_inc
from spotify.errors import CircuitOpen, SpotifyRateLimited

logger = logging.getLogger("spotify")


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


def error_wait_seconds(exc: BaseException, *, attempts: int, base: float, ceiling: float, jitter: bool = False) -> float:
    """How long work that hit `exc` waits before its next try (the one rule for jobs and items):
    Spotify's Retry-After, an open circuit's remaining cooldown, else exponential backoff from
    `base` per attempt up to `ceiling` (with `jitter`, scaled into [50 %, 100 %] so a burst of
    failures does not come back at once)."""
    if isinstance(exc, SpotifyRateLimited):
        return max(float(exc.retry_after), 1.0)
    if isinstance(exc, CircuitOpen):
        return max(float(exc.remaining), 1.0)
    wait = min(base * 2 ** max(attempts - 1, 0), ceiling)
    return wait * random.uniform(0.5, 1.0) if jitter else float(wait)
