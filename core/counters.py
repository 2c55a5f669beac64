"""Event counters kept in Redis so that what workers count, the web process exports."""

from __future__ import annotations

import json

from core.redis import get_redis, key


def _field(labels: dict[str, str]) -> str:
    return json.dumps(labels, sort_keys=True)


def counter_inc(name: str, amount: float = 1, **labels: str) -> None:
    get_redis().hincrbyfloat(key("counter", name), _field(labels), amount)


def counter_values(name: str) -> list[tuple[dict[str, str], float]]:
    raw = get_redis().hgetall(key("counter", name))
    return [(json.loads(field), float(value)) for field, value in raw.items()]


def counter_total(name: str, **labels: str) -> float:
    value = get_redis().hget(key("counter", name), _field(labels))
    return float(value) if value else 0.0
