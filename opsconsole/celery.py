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
    by tests/drills/test_redis_restarted.py; celery/celery#10205 family). Neither is dropped:
    a skipped restore would hold every message this worker had received (a retry waiting for its
    ETA among them) in Redis' unacked index until visibility_timeout, an hour, so its tags are kept
    and `RestoreStrandedMessages` puts back, once the worker has reconnected, those no task is
    running; a task that was running acknowledges its message when it ends, through its old
    channel if kombu left that one usable, else through the new connection. An ack skipped for a message kombu did put back is left so: it runs again (the services
    are idempotent), as kombu has it. RELIABILITY.md tells what the soak found.
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
                running = _running_delivery_tags()
                for tag in self._delivered:
                    if tag in _acks_skipped:
                        _acked_while_away.add(tag)
                    elif tag in running:
                        _running_while_away.add(tag)  # its ack comes later, through the next connection
                    else:
                        _stranded_delivery_tags.add(tag)
                self._delivered.clear()
            elif args[0] in _running_while_away or args[0] in _stranded_delivery_tags:
                # Its task is done: the message must leave the unacked index, never come back.
                _running_while_away.discard(args[0])
                _stranded_delivery_tags.discard(args[0])
                _acknowledge_late(args[0])
            else:
                _acks_skipped.add(args[0])
            return None

        return call

    for name in ("restore_unacked", "ack"):
        setattr(qos, name, tolerant(getattr(qos, name)))
    qos.tolerates_broker_gone = True  # type: ignore[attr-defined]


# Delivery tags of messages this worker held when its broker went away and could not put back,
# and of those whose task finished meanwhile (acknowledged once the worker has reconnected).
_stranded_delivery_tags: set[str] = set()
_acked_while_away: set[str] = set()
# Acks skipped before the connection closed: if its restore fails too, those are acked, not restored.
_acks_skipped: set[str] = set()
# Messages of tasks still running when the restore failed: acknowledged when they finish.
_running_while_away: set[str] = set()
# The redis QoS of the worker's latest connection (RestoreStrandedMessages sets it).
_current_qos: Any = None


def _running_delivery_tags() -> set[str]:
    from celery.worker import state

    return {request.message.delivery_tag for request in list(state.active_requests)}


def _acknowledge_late(tag: str) -> None:
    """What kombu's ack does in Redis, through the latest connection; else at the next one."""
    try:
        _current_qos._remove_from_indices(tag).execute()
    except (AttributeError, redis.RedisError, OSError):
        _acked_while_away.add(tag)
        return
    logger.info("message %s acknowledged after the reconnection", tag)


class RestoreStrandedMessages(bootsteps.StartStopStep):
    """Consumer bootstep: on every (re)connection, put back the messages whose restore failed.

    What kombu's `restore_unacked` does on a reachable broker (each tag's message back on its
    queue, out of the unacked index), done late through the new connection. A tag no longer in
    the unacked hash (the broker lost it) only leaves the index. A message whose task finished
    while the broker was away (its ack skipped) is acknowledged instead, never restored: a retry
    that had already been sent ran twice in the 60-minute soak's fifth run.
    """

    requires = ("celery.worker.consumer.tasks:Tasks",)

    def start(self, c: Any) -> None:
        global _current_qos
        qos = _current_qos = c.task_consumer.channel.qos
        if not _stranded_delivery_tags and not _acked_while_away:
            _acks_skipped.clear()
            return
        try:
            for tag in sorted(_acked_while_away):
                qos._remove_from_indices(tag).execute()  # what kombu's ack does in Redis
                _acked_while_away.discard(tag)
                logger.info("message %s acknowledged after the reconnection", tag)
            for tag in sorted(_stranded_delivery_tags):
                qos.restore_by_tag(tag)
                _stranded_delivery_tags.discard(tag)
                logger.info("stranded message %s restored to its queue", tag)
        except (redis.RedisError, OSError):  # the broker went away again: the next connection tries
            logger.warning("stranded messages not put back yet", exc_info=True)
            return
        _acks_skipped.clear()


_tolerate_broker_gone_while_requeueing()

# Every task's base: a database or Redis gone for a moment is retried, not the task's failure.
app = Celery("opsconsole", task_cls="jobs.task_base:JobTask")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
# Every worker keeps its heartbeat in Redis: what health and the NoWorkers alert read.
app.steps["consumer"].add("jobs.heartbeat:WorkerHeartbeat")
# Messages a Redis restart kept this worker from putting back go back once it has reconnected.
app.steps["consumer"].add(RestoreStrandedMessages)
