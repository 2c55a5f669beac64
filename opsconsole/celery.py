"""The Celery app: Redis broker, django-celery-results backend, DatabaseScheduler, worker heartbeats."""

from __future__ import annotations

import logging
import os
from typing import Any

import redis
from celery import Celery, bootsteps

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "opsconsole.settings")

logger = logging.getLogger(__name__)


def _tolerate_broker_gone_while_requeueing() -> None:
    """Keep a worker alive through a Redis restart while an acks_late task runs.

    On connection loss kombu closes the old channel, requeueing its unacked messages, and the
    running task later acks on that channel: both go through a connection already torn down
    (AttributeError: 'NoneType' has no 'hostname' / 'client'), which Celery takes as
    unrecoverable, so the worker exits instead of carrying on with its new connection (found
    by tests/drills/test_redis_restarted.py; celery/celery#10205 family). A skipped ack loses
    nothing: the message comes back after visibility_timeout and the services are idempotent. A
    skipped restore would hold every message this worker had received (a retry waiting for its
    ETA among them) in Redis' unacked index for that hour, so its tags are kept and
    `RestoreStrandedMessages` puts them back once the worker has reconnected (RELIABILITY.md).
    """
    from kombu.transport import redis as kombu_redis

    qos = kombu_redis.QoS
    if getattr(qos, "tolerates_broker_gone", False):
        return

    def tolerant(method: Any) -> Any:
        def call(self: Any, *args: Any, **kwargs: Any) -> Any:
            try:
                return method(self, *args, **kwargs)
            except AttributeError:
                transport = getattr(self.channel, "connection", None)
                if transport is not None and transport.client is not None:
                    raise  # a real bug, not a torn-down connection
                logger.warning("broker connection gone: %s of unacked messages skipped", method.__name__)
            except (redis.ConnectionError, redis.TimeoutError) as exc:
                logger.warning("broker unreachable: %s of unacked messages skipped: %s", method.__name__, exc)
            if method.__name__ == "restore_unacked":
                _stranded_delivery_tags.update(self._delivered)
                self._delivered.clear()
            return None

        return call

    for name in ("restore_unacked", "ack"):
        setattr(qos, name, tolerant(getattr(qos, name)))
    qos.tolerates_broker_gone = True  # type: ignore[attr-defined]


# Delivery tags of messages this worker held when its broker went away and could not put back.
_stranded_delivery_tags: set[str] = set()


class RestoreStrandedMessages(bootsteps.StartStopStep):
    """Consumer bootstep: on every (re)connection, put back the messages whose restore failed.

    What kombu's `restore_unacked` does on a reachable broker (each tag's message back on its
    queue, out of the unacked index), done late through the new connection. A tag no longer in
    the unacked hash (the broker lost it) only leaves the index.
    """

    requires = ("celery.worker.consumer.tasks:Tasks",)

    def start(self, c: Any) -> None:
        if not _stranded_delivery_tags:
            return
        qos = c.task_consumer.channel.qos
        for tag in sorted(_stranded_delivery_tags):
            try:
                qos.restore_by_tag(tag)
            except (redis.RedisError, OSError):  # the broker went away again: the next connection tries
                logger.warning("stranded message %s not restored yet", tag, exc_info=True)
                return
            _stranded_delivery_tags.discard(tag)
            logger.info("stranded message %s restored to its queue", tag)


_tolerate_broker_gone_while_requeueing()

# Every task's base: a database or Redis gone for a moment is retried, not the task's failure.
app = Celery("opsconsole", task_cls="jobs.task_base:JobTask")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
# Every worker keeps its heartbeat in Redis: what health and the NoWorkers alert read.
app.steps["consumer"].add("jobs.heartbeat:WorkerHeartbeat")
# Messages a Redis restart kept this worker from putting back go back once it has reconnected.
app.steps["consumer"].add(RestoreStrandedMessages)
