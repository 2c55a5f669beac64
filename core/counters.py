"""Event counters kept in Redis so that what workers count, the web process exports.

Two kinds: running totals (`counter_inc`, exported as Prometheus counters) and per-minute
buckets (`counter_inc_minutely`), which answer "how many in the last N minutes" for the rate
alerts without a Prometheus server: a bucket expires after `MINUTE_BUCKETS_KEPT` minutes.
"""

from __future__ import annotations

import json
import logging
import time
from collections import defaultdict
from typing import Any

from redis.exceptions import RedisError

from core.redis import get_redis, key

logger = logging.getLogger(__name__)

MINUTE_BUCKETS_KEPT = 120


def _field(labels: dict[str, str]) -> str:
    return json.dumps(labels, sort_keys=True)


def counter_inc(name: str, amount: float = 1, *, best_effort: bool = False, **labels: str) -> None:
    """Add to a running total. `best_effort`: with Redis away the count is lost (a warning), not
    the work that counted it; for a door's write, whose data is in PostgreSQL. Without it, a count
    that must not be missed (a Spotify call, before it is sent) raises RedisError."""
    try:
        get_redis().hincrbyfloat(key("counter", name), _field(labels), amount)
    except RedisError as exc:
        if not best_effort:
            raise
        _lost(name, exc, labels=labels, amount=amount)


def _lost(name: str, exc: RedisError, *, labels: dict[str, str], amount: float) -> None:
    logger.warning("%s not counted: %s", name, exc, extra={"labels": labels, "amount": amount})


def counter_values(name: str) -> list[tuple[dict[str, str], float]]:
    raw = get_redis().hgetall(key("counter", name))
    return [(json.loads(field), float(value)) for field, value in raw.items()]


def counter_total(name: str, **labels: str) -> float:
    value = get_redis().hget(key("counter", name), _field(labels))
    return float(value) if value else 0.0


def _minute_key(name: str, minute: int) -> str:
    return key("counter-minute", name, minute)


def counter_inc_minutely(name: str, amount: float = 1, *, pipe: Any = None, best_effort: bool = False, **labels: str) -> None:
    """Count into this minute's bucket; `pipe` adds the two commands to a caller's pipeline (the
    caller runs it), `best_effort` as for counter_inc."""
    bucket = _minute_key(name, int(time.time() // 60))
    client = pipe if pipe is not None else get_redis().pipeline(transaction=False)
    client.hincrbyfloat(bucket, _field(labels), amount)
    client.expire(bucket, MINUTE_BUCKETS_KEPT * 60)
    if pipe is None:
        try:
            client.execute()
        except RedisError as exc:
            if not best_effort:
                raise
            _lost(name, exc, labels=labels, amount=amount)


def counter_window(name: str, *, minutes: int) -> list[tuple[dict[str, str], float]]:
    """Sums per label set over the current minute and the `minutes - 1` before it."""
    if not 1 <= minutes <= MINUTE_BUCKETS_KEPT:
        raise ValueError(f"minutes must be within 1..{MINUTE_BUCKETS_KEPT}")
    now = int(time.time() // 60)
    pipe = get_redis().pipeline(transaction=False)
    for minute in range(now - minutes + 1, now + 1):
        pipe.hgetall(_minute_key(name, minute))
    totals: dict[str, float] = defaultdict(float)
    for bucket in pipe.execute():
        for field, value in bucket.items():
            totals[field] += float(value)
    return [(json.loads(field), value) for field, value in sorted(totals.items())]
