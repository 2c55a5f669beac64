"""Per source/operation call telemetry in Redis, for health and the dashboard.

Workers record; the web process reads. Outcomes: started (a call began), succeeded,
failed (an error came back), skipped (not sent: circuit open or rate limit parked it).
Besides the running totals, outcomes are counted per minute (core.counters) for the call
success rate over a recent window (`telemetry_call_rates`, the EnrichmentSuccessRateLow alert).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Literal

from core.counters import counter_inc_minutely, counter_window
from core.redis import get_redis, key
from spotify.breaker import breaker_states

Outcome = Literal["started", "succeeded", "failed", "skipped"]
_OUTCOMES = ("started", "succeeded", "failed", "skipped")
# The success rate is read over the last this many minutes (alert condition and /metrics alike).
CALLS_WINDOW_MINUTES = 5
_CALLS_COUNTER = "telemetry_calls"


def _key(name: str) -> str:
    return key("telemetry", name)


def _index_key() -> str:
    return key("telemetry-index")


def telemetry_record(*, source: str, operation: str, outcome: Outcome, latency_ms: float | None = None, error: str = "") -> None:
    if outcome not in _OUTCOMES:
        raise ValueError(f"outcome must be one of {_OUTCOMES}")
    name = f"{source}.{operation}"
    now = time.time()
    pipe = get_redis().pipeline(transaction=False)
    pipe.sadd(_index_key(), name)
    pipe.hincrby(_key(name), outcome, 1)
    if latency_ms is not None:
        pipe.hset(_key(name), "last_latency_ms", round(latency_ms, 3))
    if outcome == "succeeded":
        pipe.hset(_key(name), "last_success_at", now)
    if outcome == "failed":
        pipe.hset(_key(name), mapping={"last_error": error[:500], "last_error_at": now})
    counter_inc_minutely(_CALLS_COUNTER, pipe=pipe, source=source, outcome=outcome)
    pipe.execute()


@dataclass(frozen=True)
class CallRate:
    """Calls of one source that ended within the window. A skipped call (circuit open, parked
    by a rate limit) did not get its data either: it counts against the success rate."""

    succeeded: int = 0
    failed: int = 0
    skipped: int = 0

    @property
    def finished(self) -> int:
        return self.succeeded + self.failed + self.skipped

    @property
    def success_ratio(self) -> float | None:
        return self.succeeded / self.finished if self.finished else None


def telemetry_call_rates(*, minutes: int = CALLS_WINDOW_MINUTES) -> dict[str, CallRate]:
    """{source: CallRate} over the current minute and the `minutes - 1` before it."""
    counts: dict[str, dict[str, int]] = {}
    for labels, value in counter_window(_CALLS_COUNTER, minutes=minutes):
        if labels.get("outcome") in ("succeeded", "failed", "skipped"):
            counts.setdefault(labels["source"], {})[labels["outcome"]] = int(value)
    return {source: CallRate(**by_outcome) for source, by_outcome in sorted(counts.items())}


def telemetry_snapshot() -> dict[str, dict[str, Any]]:
    """{"spotify.albums": {started, succeeded, failed, skipped, last_latency_ms,
    last_error, last_error_at}, ...} for every operation that has recorded anything."""
    client = get_redis()
    names = sorted(str(member) for member in client.smembers(_index_key()))
    pipe = client.pipeline(transaction=False)
    for name in names:
        pipe.hgetall(_key(name))
    snapshot: dict[str, dict[str, Any]] = {}
    for name, raw in zip(names, pipe.execute(), strict=True):
        snapshot[name] = {
            **{outcome: int(raw.get(outcome) or 0) for outcome in _OUTCOMES},
            "last_latency_ms": float(raw["last_latency_ms"]) if raw.get("last_latency_ms") else None,
            "last_error": raw.get("last_error", ""),
            "last_error_at": float(raw["last_error_at"]) if raw.get("last_error_at") else None,
            "last_success_at": float(raw["last_success_at"]) if raw.get("last_success_at") else None,
        }
    return snapshot


def _split(name: str) -> tuple[str, str]:
    source, _, operation = name.partition(".")
    return source, operation


def ingestion_issues(
    *, breakers: list[dict[str, Any]] | None = None, snapshot: dict[str, dict[str, Any]] | None = None
) -> list[dict[str, Any]]:
    """What an on-call engineer should look at, as in DESIGN.md "Defaults and shapes":
    open (or probing) circuits, and operations whose latest outcome was an error. A caller
    that has just read `breakers` and `snapshot` passes them instead of having them read again."""
    issues: list[dict[str, Any]] = []
    for breaker in breaker_states() if breakers is None else breakers:
        if breaker["state"] != "closed":
            source, operation = _split(breaker["name"])
            issues.append(
                {
                    "source": source,
                    "operation": operation,
                    "breaker": breaker["name"],
                    "reason": "circuit_open",
                    "state": breaker["state"],
                    "remaining_cooldown": breaker["remaining_cooldown"],
                }
            )
    for name, entry in (telemetry_snapshot() if snapshot is None else snapshot).items():
        failed_last = entry["last_error_at"] and (entry["last_success_at"] or 0) < entry["last_error_at"]
        if failed_last:
            source, operation = _split(name)
            issues.append(
                {
                    "source": source,
                    "operation": operation,
                    "reason": "last_error",
                    "error": entry["last_error"],
                    "last_error_at": entry["last_error_at"],
                }
            )
    return issues


def ingestion_sources() -> dict[str, dict[str, Any]]:
    """Per source: its circuits and per-operation counters (health's `ingestion.sources`)."""
    sources: dict[str, dict[str, Any]] = {}
    for breaker in breaker_states():
        source, operation = _split(breaker["name"])
        entry = sources.setdefault(source, {"circuits": {}, "operations": {}})
        entry["circuits"][operation] = {
            "state": breaker["state"],
            "remaining_cooldown": breaker["remaining_cooldown"],
            "failure_streak": breaker["failure_streak"],
            "opened_count": breaker["opened_count"],
        }
    for name, counters in telemetry_snapshot().items():
        source, operation = _split(name)
        sources.setdefault(source, {"circuits": {}, "operations": {}})["operations"][operation] = counters
    return sources
