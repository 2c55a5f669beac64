"""The one Redis connection pool shared by locks, buckets, breakers and counters."""

from __future__ import annotations

from functools import lru_cache

import redis
from django.conf import settings


@lru_cache(maxsize=4)
def _client(url: str) -> redis.Redis:
    return redis.Redis.from_url(url, decode_responses=True, socket_timeout=5, health_check_interval=30)


def get_redis(url: str | None = None) -> redis.Redis:
    """The pooled client of REDIS_URL, or of another Redis `url` (the broker's, for health)."""
    return _client(url or settings.REDIS_URL)


def key(*parts: object) -> str:
    """Namespaced key; tests set REDIS_KEY_PREFIX so parallel runs never collide."""
    return ":".join([settings.REDIS_KEY_PREFIX, *(str(p) for p in parts)])
