"""Database settings cached per process, dropped everywhere when a Redis version stamp changes.

Workers read run-time settings (connector knobs, rate limits) on every Spotify call: a query
each time would cost more than the call's bookkeeping, a plain cache would leave workers on
old values. So each process keeps the loaded value for `ttl_seconds` at most and reloads at
once when the stamp in Redis differs from the one it loaded under; every save bumps the stamp
(now, and again on commit). This is how a change reaches every worker within seconds, no restart.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable
from typing import Generic, TypeVar

from django.db import transaction

from core.redis import get_redis, key

T = TypeVar("T")


class StampedCache(Generic[T]):
    def __init__(self, name: str, *, ttl_seconds: float, load: Callable[[], T]) -> None:
        self.name = name
        self.ttl_seconds = ttl_seconds
        self._load = load
        self._lock = threading.Lock()
        self._version: str | None = None
        self._loaded_at = 0.0
        self._value: T | None = None

    def _key(self) -> str:
        return key(self.name, "version")

    def _current_version(self) -> str:
        client = get_redis()
        version = client.get(self._key())
        if version is None:
            # No stamp (first use, Redis flushed): start a new one so every process reloads.
            client.set(self._key(), uuid.uuid4().hex, nx=True)
            version = client.get(self._key())
        return str(version)

    def get(self) -> T:
        version = self._current_version()
        now = time.monotonic()
        with self._lock:
            if self._version == version and now - self._loaded_at < self.ttl_seconds and self._value is not None:
                return self._value
        value = self._load()
        with self._lock:
            self._version, self._loaded_at, self._value = version, now, value
        return value

    def invalidate(self) -> None:
        """Every process drops its cached value on its next lookup."""
        get_redis().set(self._key(), uuid.uuid4().hex)

    def invalidate_now_and_on_commit(self) -> None:
        # Now: this transaction sees its own change. On commit: a process that reloaded in
        # between read the old row, so it must reload once more.
        self.invalidate()
        transaction.on_commit(self.invalidate)
