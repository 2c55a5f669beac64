"""Per-operation call limits (timeout, attempts, breaker cooldown).

The client stays free of the database: whoever builds it may pass a lookup (the accounts
glue passes the connector settings kept in the database); without one, settings apply.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from django.conf import settings


@dataclass(frozen=True)
class OperationLimits:
    timeout_seconds: float
    max_attempts: int
    cooldown_seconds: float


LimitsLookup = Callable[[str], OperationLimits]


def default_limits() -> OperationLimits:
    return OperationLimits(
        timeout_seconds=float(settings.SPOTIFY_REQUEST_TIMEOUT),
        max_attempts=int(settings.SPOTIFY_MAX_ATTEMPTS),
        cooldown_seconds=float(settings.BREAKER_BASE_COOLDOWN_SECONDS),
    )
