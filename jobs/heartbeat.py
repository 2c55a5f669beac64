"""Workers' pulse: each Celery worker keeps a heartbeat in Redis; "workers alive" reads them.

One key per worker hostname holds the queues it consumes, rewritten every
WORKER_HEARTBEAT_SECONDS and expiring after HEARTBEAT_MISSES of those. A warm shutdown
deletes it; a killed worker's key expires. Redis' own expiry decides, so the clocks of the
worker hosts do not matter. Health, the Prometheus gauge and the NoWorkers alert read
`workers_alive()`: a web request never waits out a Celery ping's timeout for workers that
cannot answer. A set of hostnames indexes the keys, so a read is two round trips, not a SCAN.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from celery import bootsteps
from django.conf import settings
from redis.exceptions import RedisError

from core.redis import get_redis, key

logger = logging.getLogger(__name__)

# A worker missing this many heartbeats in a row is gone.
HEARTBEAT_MISSES = 3


def heartbeat_interval() -> float:
    return float(getattr(settings, "WORKER_HEARTBEAT_SECONDS", 10))


def heartbeat_ttl() -> int:
    return max(1, round(heartbeat_interval() * HEARTBEAT_MISSES))


def _index_key() -> str:
    return key("workers", "heartbeats")


def _heartbeat_key(hostname: str) -> str:
    return key("workers", "heartbeat", hostname)


@dataclass(frozen=True)
class WorkerPulse:
    hostname: str
    queues: list[str]
    at: datetime

    def age_s(self, now: datetime) -> float:
        return round(max(0.0, (now - self.at).total_seconds()), 1)


def worker_heartbeat(*, hostname: str, queues: list[str], at: float | None = None) -> None:
    document = json.dumps({"queues": sorted(queues), "at": at if at is not None else time.time()})
    pipe = get_redis().pipeline(transaction=True)
    pipe.set(_heartbeat_key(hostname), document, ex=heartbeat_ttl())
    pipe.sadd(_index_key(), hostname)
    pipe.execute()


def worker_heartbeat_clear(*, hostname: str) -> None:
    pipe = get_redis().pipeline(transaction=True)
    pipe.delete(_heartbeat_key(hostname))
    pipe.srem(_index_key(), hostname)
    pipe.execute()


# Drop a hostname from the index only if its key is still gone: the worker may have written a
# fresh heartbeat between our read and this call.
_PRUNE = "if redis.call('EXISTS', KEYS[1]) == 0 then return redis.call('SREM', KEYS[2], ARGV[1]) end return 0"


def workers_alive() -> list[WorkerPulse]:
    """The workers whose heartbeat has not expired, by hostname. Raises RedisError."""
    client = get_redis()
    hostnames = sorted(str(name) for name in client.smembers(_index_key()))
    if not hostnames:
        return []
    documents = client.mget([_heartbeat_key(name) for name in hostnames])
    alive = []
    for hostname, document in zip(hostnames, documents, strict=True):
        if document is None:
            client.eval(_PRUNE, 2, _heartbeat_key(hostname), _index_key(), hostname)
            continue
        data = json.loads(document)
        alive.append(
            WorkerPulse(hostname=hostname, queues=list(data["queues"]), at=datetime.fromtimestamp(float(data["at"]), tz=UTC))
        )
    return alive


class WorkerHeartbeat(bootsteps.StartStopStep):
    """Consumer bootstep: a heartbeat now and every interval while the worker consumes.

    A consumer step, like Celery's own event heartbeat (`Heart`): a worker that lost its broker
    connection stops it until it has reconnected. Registered in opsconsole/celery.py.
    """

    requires = ("celery.worker.consumer.tasks:Tasks",)

    def __init__(self, c: Any, **kwargs: Any) -> None:
        self._timer_entry: Any = None
        super().__init__(c, **kwargs)

    def _beat(self, c: Any) -> None:
        consumer = c.task_consumer
        queues = [queue.name for queue in consumer.queues] if consumer is not None else []
        try:
            worker_heartbeat(hostname=c.hostname, queues=queues)
        except RedisError:
            # Redis down: health is 503 for that anyway; the next tick writes again.
            logger.warning("worker heartbeat not written", exc_info=True)

    def start(self, c: Any) -> None:
        self._beat(c)
        self._timer_entry = c.timer.call_repeatedly(heartbeat_interval(), self._beat, (c,), priority=10)

    def stop(self, c: Any) -> None:
        if self._timer_entry is not None:
            self._timer_entry.cancel()
            self._timer_entry = None
        try:
            worker_heartbeat_clear(hostname=c.hostname)
        except RedisError:
            logger.warning("worker heartbeat not cleared; it expires", exc_info=True)

    def shutdown(self, c: Any) -> None:
        self.stop(c)

    def terminate(self, c: Any) -> None:
        self.stop(c)
