"""One Redis lock helper: set-if-absent with a TTL, released in `finally`."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import redis

from core.redis import get_redis, key

# Release only our own lock: a lock that outlived its TTL may now belong to someone else.
_RELEASE = """
if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end
return 0
"""

# The same owner (a redelivered task) takes its lock back with a fresh TTL.
_TAKE_OVER = """
if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('expire', KEYS[1], ARGV[2]) end
return 0
"""


class LockBusy(Exception):
    """Another worker holds the lock; the caller retries later."""

    def __init__(self, name: str) -> None:
        super().__init__(f"lock {name} is held by another worker")
        self.name = name


@contextmanager
def redis_lock(name: str, *, ttl_seconds: int = 300, owner: str | None = None) -> Iterator[None]:
    """Non-blocking lock `lock:<name>`; raises LockBusy on contention.

    `owner` (a Celery task id): a task redelivered after its worker was killed finds the lock
    its dead run still holds and takes it over, instead of retrying until the TTL runs out.
    Safe because task time limits stay far below the broker's visibility timeout: two live
    runs of one task id never overlap.
    """
    lock_key = key("lock", name)
    token = owner or uuid.uuid4().hex
    client = get_redis()
    taken = bool(client.set(lock_key, token, nx=True, ex=ttl_seconds))
    # A lock holding our token is ours: a redelivered task's (same owner), or this very SET's when
    # its reply was lost and redis-py sent it again (the NX then fails on our own key; the soak
    # found such a lock left held, its holder told LockBusy).
    if not taken and not int(client.eval(_TAKE_OVER, 1, lock_key, token, ttl_seconds)):
        raise LockBusy(name)
    try:
        yield
    finally:
        _release(client, lock_key, token)


# A release that fails while Redis restarts leaves the lock to its TTL (minutes for a playlist):
# every other run on that playlist waits that long. The release waits the restart out instead.
RELEASE_RETRY_SECONDS = 20.0


def _release(client: redis.Redis, lock_key: str, token: str) -> None:
    deadline = time.monotonic() + RELEASE_RETRY_SECONDS
    while True:
        try:
            client.eval(_RELEASE, 1, lock_key, token)
            return
        except (redis.ConnectionError, redis.TimeoutError):
            if time.monotonic() >= deadline:
                raise
            time.sleep(1.0)


def redis_lock_release(name: str, *, owner: str) -> bool:
    """Free `lock:<name>` if `owner` still holds it (a terminated task's lock: its `finally`
    never ran); returns whether it did."""
    return bool(int(get_redis().eval(_RELEASE, 1, key("lock", name), owner)))


def redis_locks_release(prefix: str, *, owner: str) -> int:
    """Free every `lock:<prefix>*` that `owner` still holds (a terminated run that went through
    many of them, one at a time); returns how many it freed."""
    client = get_redis()
    return sum(int(client.eval(_RELEASE, 1, lock_key, owner)) for lock_key in client.scan_iter(match=key("lock", prefix) + "*"))
