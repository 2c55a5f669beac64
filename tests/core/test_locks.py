"""The one Redis lock helper (core.locks)."""

from __future__ import annotations

from typing import Any

import pytest
import redis

from core import locks
from core.locks import LockBusy, redis_lock
from core.redis import get_redis, key


def test_a_lock_is_released_even_when_redis_restarts_while_it_is_held(db: None, monkeypatch: Any) -> None:
    """Found by the chaos soak: a release that failed during a Redis restart left a playlist's lock to
    its TTL (6.5 minutes), and every sync and reshuffle of that playlist waited it out."""
    client = get_redis()
    real_eval = client.eval
    refused: list[int] = []

    def eval_during_restart(*args: Any) -> Any:
        if len(refused) < 2:
            refused.append(1)
            raise redis.ConnectionError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")
        return real_eval(*args)

    monkeypatch.setattr(locks.time, "sleep", lambda seconds: None)
    with redis_lock("test:restart", ttl_seconds=300):
        monkeypatch.setattr(client, "eval", eval_during_restart)
    monkeypatch.setattr(client, "eval", real_eval)

    assert len(refused) == 2
    assert client.get(key("lock", "test:restart")) is None
    with redis_lock("test:restart", ttl_seconds=300):
        pass


def test_a_held_lock_refuses_a_second_owner(db: None) -> None:
    with redis_lock("test:busy", ttl_seconds=60), pytest.raises(LockBusy), redis_lock("test:busy", ttl_seconds=60):
        pass


def test_a_set_whose_reply_was_lost_and_sent_again_still_takes_the_lock(db: None, monkeypatch: Any) -> None:
    """Found by the chaos soak: redis-py sends a SET again when its reply times out; the NX of the
    second one fails on the key the first one set, and the lock was left held by nobody."""
    client = get_redis()
    real_set = client.set

    def set_then_lose_the_reply(*args: Any, **kwargs: Any) -> Any:
        real_set(*args, **kwargs)  # applied by Redis; what the caller sees is the retry's answer
        return real_set(*args, **kwargs)

    monkeypatch.setattr(client, "set", set_then_lose_the_reply)
    with redis_lock("test:lost-reply", ttl_seconds=300):
        assert client.get(key("lock", "test:lost-reply")) is not None
    monkeypatch.setattr(client, "set", real_set)
    assert client.get(key("lock", "test:lost-reply")) is None
