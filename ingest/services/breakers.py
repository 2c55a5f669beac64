"""Circuit breakers: the operator's resets of the Spotify breakers."""

from __future__ import annotations

import logging

from opsconsole.spotify.breaker import breaker_reset, breaker_reset_all

logger = logging.getLogger(__name__)


def circuit_breakers_reset_all(*, actor: str = "") -> int:
    """Close every Spotify breaker (the runbook's reset-all after an outage is over)."""
    count = breaker_reset_all()
    logger.warning("circuit breakers reset", extra={"count": count, "actor": actor})
    return count


def circuit_breaker_reset(*, name: str, actor: str = "") -> None:
    breaker_reset(name)
    logger.warning("circuit breaker reset", extra={"breaker": name, "actor": actor})
