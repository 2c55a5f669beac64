"""Token buckets in Redis, one per app and one per account, shared by every worker.

Spotify counts requests per app over a rolling 30 s window; a bucket refilling at the
app's rate keeps the fleet under it. A 429's Retry-After blocks the whole app bucket until
then, so other workers stop too instead of earning their own 429s. Time comes from the
Redis server (TIME inside the script): workers' clocks never disagree about a bucket.
"""

from __future__ import annotations

import logging
import time
from typing import Literal

from django.conf import settings

from core.counters import counter_inc
from core.redis import get_redis, key
from core.stamped_cache import StampedCache
from spotify.errors import SpotifyRateLimited

logger = logging.getLogger(__name__)

BucketKind = Literal["app", "account"]

# Returns {granted (1|0), tokens left or seconds to wait}: floats travel as strings
# because Redis truncates Lua numbers to integers.
_TAKE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local capacity = tonumber(ARGV[1])
local rate = tonumber(ARGV[2])
local wanted = tonumber(ARGV[3])
local state = redis.call('HMGET', KEYS[1], 'tokens', 'ts', 'blocked_until')
local tokens = tonumber(state[1]) or capacity
local ts = tonumber(state[2]) or now
local blocked_until = tonumber(state[3]) or 0
if blocked_until > now then
  return {0, tostring(blocked_until - now)}
end
tokens = math.min(capacity, tokens + math.max(0, now - ts) * rate)
local granted = 0
local result = 0
if tokens >= wanted then
  tokens = tokens - wanted
  granted = 1
  result = tokens
else
  result = (wanted - tokens) / rate
end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'ts', tostring(now), 'capacity', ARGV[1], 'rate', ARGV[2])
redis.call('EXPIRE', KEYS[1], tonumber(ARGV[4]))
return {granted, tostring(result)}
"""

_BLOCK = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local until_ = now + tonumber(ARGV[1])
local current = tonumber(redis.call('HGET', KEYS[1], 'blocked_until')) or 0
if until_ > current then
  redis.call('HSET', KEYS[1], 'blocked_until', tostring(until_))
end
redis.call('HSET', KEYS[1], 'last_429_at', tostring(now))
redis.call('EXPIRE', KEYS[1], tonumber(ARGV[2]))
return tostring(math.max(until_, current) - now)
"""


def _bucket_key(kind: BucketKind, ident: str) -> str:
    return key("bucket", kind, ident)


RATE_LIMIT_CACHE_SECONDS = 5.0


def bucket_defaults(kind: BucketKind) -> tuple[float, float]:
    """(capacity, refill rate per second) from the environment settings: the starting point
    that RateLimitSetting rows override."""
    if kind == "app":
        return float(settings.SPOTIFY_APP_BURST), float(settings.SPOTIFY_APP_RATE_PER_SECOND)
    if kind == "account":
        return float(settings.SPOTIFY_ACCOUNT_BURST), float(settings.SPOTIFY_ACCOUNT_RATE_PER_SECOND)
    raise ValueError(f"unknown bucket kind {kind!r}")


def _load_overrides() -> dict[tuple[str, str], tuple[float, float]]:
    from django.db import DatabaseError

    from spotify.models import RateLimitSetting

    try:
        rows = list(RateLimitSetting.objects.only("kind", "ident", "burst", "rate_per_second"))
    except DatabaseError:
        # The database is down: the environment's defaults keep calls flowing (and within Spotify's limits).
        logger.warning("rate-limit settings unavailable; using the defaults", exc_info=True)
        return {}
    return {(row.kind, row.ident): (float(row.burst), float(row.rate_per_second)) for row in rows}


_overrides = StampedCache("ratelimits", ttl_seconds=RATE_LIMIT_CACHE_SECONDS, load=_load_overrides)


def rate_limits_invalidate_now_and_on_commit() -> None:
    _overrides.invalidate_now_and_on_commit()


def bucket_limits(kind: BucketKind, ident: str = "") -> tuple[float, float]:
    """(capacity, refill rate per second) of one bucket: its own row, else its kind's row, else
    the settings default."""
    if kind not in ("app", "account"):
        raise ValueError(f"unknown bucket kind {kind!r}")
    overrides = _overrides.get()
    return overrides.get((kind, ident)) or overrides.get((kind, "")) or bucket_defaults(kind)


def bucket_eta_seconds(kind: BucketKind, ident: str, calls: int) -> float:
    """How long `calls` take through one bucket at its burst and rate (bucket_limits, what
    bucket_take enforces), starting full: the burst goes at once, the rest at the rate."""
    capacity, rate = bucket_limits(kind, ident)
    return max(0.0, calls - capacity) / max(rate, 0.001)


def _ttl(capacity: float, rate: float) -> int:
    # Long enough to outlive a full refill and any Retry-After block we keep.
    return int(max(capacity / max(rate, 0.001), 3600)) + 60


def bucket_try_take(
    kind: BucketKind, ident: str, *, capacity: float | None = None, rate: float | None = None, tokens: float = 1
) -> tuple[bool, float]:
    """Take `tokens` if the bucket has them: (True, tokens left) or (False, seconds to wait)."""
    if capacity is None or rate is None:
        default_capacity, default_rate = bucket_limits(kind, ident)
        capacity = default_capacity if capacity is None else capacity
        rate = default_rate if rate is None else rate
    granted, value = get_redis().eval(_TAKE, 1, _bucket_key(kind, ident), capacity, rate, tokens, _ttl(capacity, rate))
    return bool(int(granted)), float(value)


def bucket_take(kind: BucketKind, ident: str, *, endpoint: str = "", max_wait: float | None = None) -> float:
    """Take one token, sleeping while the wait fits under the ceiling; returns seconds slept.

    A wait beyond the ceiling (a long Retry-After block, an exhausted bucket at a low
    rate) raises SpotifyRateLimited so the job is parked, not a worker thread.
    """
    ceiling = float(settings.SPOTIFY_MAX_SLEEP_SECONDS) if max_wait is None else max_wait
    slept = 0.0
    while True:
        granted, value = bucket_try_take(kind, ident)
        if granted:
            return slept
        if slept + value > ceiling:
            counter_inc("spotify_bucket_rejections_total", kind=kind)
            raise SpotifyRateLimited(
                f"{endpoint or 'spotify'}: {kind} rate limit bucket needs {value:.2f}s",
                retry_after=value,
                status=None,
                endpoint=endpoint,
            )
        counter_inc("spotify_bucket_waits_total", kind=kind)
        time.sleep(value)
        slept += value


def bucket_block(kind: BucketKind, ident: str, seconds: float) -> float:
    """Block the bucket for `seconds` (a 429's Retry-After); returns the block remaining."""
    capacity, rate = bucket_limits(kind, ident)
    return float(get_redis().eval(_BLOCK, 1, _bucket_key(kind, ident), max(0.0, seconds), _ttl(capacity, rate)))


def bucket_clear_block(kind: BucketKind, ident: str) -> None:
    get_redis().hdel(_bucket_key(kind, ident), "blocked_until")


def bucket_state(kind: BucketKind, ident: str) -> dict[str, float | None]:
    """{tokens, capacity, rate_per_second, last_429_at, blocked_until} (epoch seconds);
    blocked_until is None once the block has passed."""
    capacity, rate = bucket_limits(kind, ident)
    raw = get_redis().hgetall(_bucket_key(kind, ident))

    def number(name: str) -> float | None:
        return float(raw[name]) if raw.get(name) else None

    blocked_until = number("blocked_until")
    tokens = number("tokens")
    ts = number("ts")
    if tokens is not None and ts is not None:
        tokens = min(capacity, tokens + max(0.0, time.time() - ts) * rate)
    return {
        "tokens": capacity if tokens is None else tokens,
        "capacity": capacity,
        "rate_per_second": rate,
        "last_429_at": number("last_429_at"),
        "blocked_until": blocked_until if blocked_until and blocked_until > time.time() else None,
    }
