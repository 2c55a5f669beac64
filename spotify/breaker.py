"""Circuit breakers per source/operation ("spotify.albums", ...), state in Redis.

Shared by every worker and surviving restarts. closed → (BREAKER_FAILURE_THRESHOLD
consecutive failed calls: 5xx/connection/timeout after all retries; 4xx do not count) →
open for a cooldown that doubles on each failed probe, from BREAKER_BASE_COOLDOWN_SECONDS
to BREAKER_MAX_COOLDOWN_SECONDS → half-open: one caller probes, the others are refused →
closed on success, open again on failure. Time is the Redis server's.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from django.conf import settings
from django.db import DatabaseError, transaction

from core.redis import get_redis, key
from spotify.errors import CircuitOpen

logger = logging.getLogger(__name__)

DEFAULT_BREAKERS = (
    "spotify.albums",
    "spotify.album_tracks",
    "spotify.audio_features",
    "spotify.playlists",
    "spotify.token",
    "spotify.me",
    "spotify.browse",
)

_NOW = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
"""

# {allowed (1|0), seconds until a call could pass}
_CHECK = (
    _NOW
    + """
local state = redis.call('HGET', KEYS[1], 'state') or 'closed'
if state == 'closed' then return {1, '0'} end
if state == 'open' then
  local open_until = tonumber(redis.call('HGET', KEYS[1], 'open_until')) or 0
  if now < open_until then return {0, tostring(open_until - now)} end
  redis.call('HSET', KEYS[1], 'state', 'half_open', 'probe_until', tostring(now + tonumber(ARGV[1])))
  return {1, '0'}
end
-- half_open: one probe at a time; a probe whose worker died frees the slot at probe_until.
local probe_until = tonumber(redis.call('HGET', KEYS[1], 'probe_until')) or 0
if now >= probe_until then
  redis.call('HSET', KEYS[1], 'probe_until', tostring(now + tonumber(ARGV[1])))
  return {1, '0'}
end
return {0, tostring(probe_until - now)}
"""
)

_SUCCESS = """
local state = redis.call('HGET', KEYS[1], 'state')
local streak = tonumber(redis.call('HGET', KEYS[1], 'failure_streak')) or 0
if (state == false or state == 'closed') and streak == 0 then return 0 end
redis.call('HSET', KEYS[1], 'state', 'closed', 'failure_streak', '0', 'cooldown', '0', 'probe_until', '0', 'open_until', '0', 'opened_at', '0')
-- 2: this success closed an open circuit (a transition worth recording), 1: a streak cleared.
if state == 'open' or state == 'half_open' then return 2 end
return 1
"""

_FAILURE = (
    _NOW
    + """
local threshold = tonumber(ARGV[1])
local base = tonumber(ARGV[2])
local max_cooldown = tonumber(ARGV[3])
local streak = redis.call('HINCRBY', KEYS[1], 'failure_streak', 1)
local state = redis.call('HGET', KEYS[1], 'state') or 'closed'
redis.call('HSET', KEYS[1], 'last_error', ARGV[4], 'last_error_at', tostring(now))
if state == 'half_open' or (state == 'closed' and streak >= threshold) then
  local cooldown = tonumber(redis.call('HGET', KEYS[1], 'cooldown')) or 0
  if state == 'half_open' and cooldown > 0 then
    cooldown = math.min(max_cooldown, cooldown * 2)
  else
    cooldown = base
  end
  redis.call('HSET', KEYS[1], 'state', 'open', 'open_until', tostring(now + cooldown), 'cooldown', tostring(cooldown), 'probe_until', '0')
  -- When the outage began: a failed probe re-opens but keeps it (alerts: "open longer than X").
  if state == 'closed' then redis.call('HSET', KEYS[1], 'opened_at', tostring(now)) end
  redis.call('HINCRBY', KEYS[1], 'opened_count', 1)
  -- 2: closed -> open (the outage began), 1: a failed probe re-opened it.
  if state == 'closed' then return 2 end
  return 1
end
return 0
"""
)

_RELEASE_PROBE = """
if redis.call('HGET', KEYS[1], 'state') == 'half_open' then
  redis.call('HSET', KEYS[1], 'probe_until', '0')
end
return 0
"""


def _key(name: str) -> str:
    return key("breaker", name)


def _index_key() -> str:
    return key("breaker-index")


def _probe_ttl() -> float:
    # A probe may retry with backoff: leave it the time all its attempts can take.
    return float(settings.SPOTIFY_REQUEST_TIMEOUT) * int(settings.SPOTIFY_MAX_ATTEMPTS) + 5


def breaker_check(name: str, *, endpoint: str = "") -> None:
    """Raise CircuitOpen unless a call may go through now (closed, or this caller probes)."""
    allowed, remaining = get_redis().eval(_CHECK, 1, _key(name), _probe_ttl())
    if not int(allowed):
        seconds = float(remaining)
        raise CircuitOpen(
            f"circuit {name} is open ({seconds:.1f}s of cooldown left)",
            breaker=name,
            remaining=seconds,
            endpoint=endpoint,
        )


def _transition_record(name: str, *, action: str, details: dict[str, Any]) -> None:
    """A circuit opening or closing, in the audit trail's `system` door: the incident timeline's
    breaker history (Redis keeps only the current state). Atomic in Redis already, so exactly the
    caller that moved the circuit records it; a database hiccup costs the row, never the call."""
    from audit.services import audit_record
    from core.actors import SYSTEM_ACTOR

    try:
        with transaction.atomic():
            audit_record(
                actor=SYSTEM_ACTOR,
                action=action,
                target_type="circuit breaker",
                target_id=name,
                target_repr=name,
                details=details,
            )
    except DatabaseError as exc:
        logger.warning("circuit breaker transition not recorded: %s", exc, extra={"breaker": name, "action": action})


def breaker_success(name: str) -> None:
    if int(get_redis().eval(_SUCCESS, 1, _key(name))) == 2:
        logger.warning("circuit breaker closed", extra={"breaker": name})
        _transition_record(name, action="circuit_breaker.close", details={})


def breaker_failure(name: str, *, error: str, base_cooldown: float | None = None) -> bool:
    """Record a failed call; returns True when this failure opened the circuit.

    `base_cooldown` (the operation's connector setting) replaces BREAKER_BASE_COOLDOWN_SECONDS.
    """
    base = float(settings.BREAKER_BASE_COOLDOWN_SECONDS) if base_cooldown is None else float(base_cooldown)
    client = get_redis()
    client.sadd(_index_key(), name)
    opened = client.eval(
        _FAILURE,
        1,
        _key(name),
        int(settings.BREAKER_FAILURE_THRESHOLD),
        base,
        max(base, float(settings.BREAKER_MAX_COOLDOWN_SECONDS)),
        error[:500],
    )
    if int(opened) == 2:
        _transition_record(name, action="circuit_breaker.open", details={"error": error[:300], "cooldown_seconds": base})
    return bool(int(opened))


def breaker_release_probe(name: str) -> None:
    """A probe that ended without a verdict (429, bucket wait): let the next caller probe."""
    get_redis().eval(_RELEASE_PROBE, 1, _key(name))


def breaker_names() -> list[str]:
    extra = sorted({str(name) for name in get_redis().smembers(_index_key())} - set(DEFAULT_BREAKERS))
    return [*DEFAULT_BREAKERS, *extra]


def breaker_state(name: str) -> dict[str, Any]:
    return _state(name, get_redis().hgetall(_key(name)), now=time.time())


def _state(name: str, raw: dict[Any, Any], *, now: float) -> dict[str, Any]:
    stored = raw.get("state") or "closed"
    open_until = float(raw.get("open_until") or 0)
    # An open circuit past its cooldown lets the next call probe: that is half-open.
    state = "half_open" if stored == "open" and open_until <= now else stored
    return {
        "name": name,
        "state": state,
        "failure_streak": int(raw.get("failure_streak") or 0),
        "open_until": open_until if stored != "closed" and open_until else None,
        "remaining_cooldown": round(max(0.0, open_until - now), 3) if stored == "open" else 0.0,
        "opened_count": int(raw.get("opened_count") or 0),
        "opened_at": float(raw["opened_at"]) if stored != "closed" and float(raw.get("opened_at") or 0) else None,
        "cooldown": float(raw.get("cooldown") or 0),
        "last_error": raw.get("last_error", ""),
        "last_error_at": float(raw["last_error_at"]) if raw.get("last_error_at") else None,
    }


def breaker_states() -> list[dict[str, Any]]:
    """Every breaker (the known ones even before their first call), for health, admin and API."""
    names = breaker_names()
    pipe = get_redis().pipeline(transaction=False)
    for name in names:
        pipe.hgetall(_key(name))
    raws = pipe.execute()
    now = time.time()
    return [_state(name, raw, now=now) for name, raw in zip(names, raws, strict=True)]


def breaker_open_seconds(state: dict[str, Any], *, at: float) -> float:
    """How long a breaker (one of `breaker_states()`) has not been closed at wall time `at`: open
    or probing since it opened; 0 when closed (the CircuitBreakerOpen alert and its gauge)."""
    if state["state"] == "closed" or state["opened_at"] is None:
        return 0.0
    return max(0.0, at - state["opened_at"])


def breaker_reset(name: str) -> None:
    """Close the breaker and forget its streak and history (operator action)."""
    get_redis().delete(_key(name))


def breaker_reset_all() -> int:
    """Reset every breaker; returns how many were not closed."""
    names = breaker_names()
    not_closed = sum(1 for state in breaker_states() if state["state"] != "closed")
    get_redis().delete(*[_key(name) for name in names])
    return not_closed


def circuit_breakers_reset_all(*, actor: str) -> int:
    """Close every Spotify breaker (after an outage is over); returns how many were not closed."""
    from audit.services import audit_record

    count = breaker_reset_all()
    logger.warning("circuit breakers reset", extra={"count": count, "actor": actor})
    audit_record(
        actor=actor,
        action="circuit_breaker.reset_all",
        target_type="circuit breaker",
        target_repr="every Spotify circuit breaker",
        details={"reset_count": count},
    )
    return count


def circuit_breaker_reset(*, name: str, actor: str) -> None:
    from audit.services import audit_record

    breaker_reset(name)
    logger.warning("circuit breaker reset", extra={"breaker": name, "actor": actor})
    audit_record(actor=actor, action="circuit_breaker.reset", target_type="circuit breaker", target_id=name, target_repr=name)
