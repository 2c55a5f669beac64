"""The Celery app: Redis broker, django-celery-results backend, DatabaseScheduler, worker heartbeats."""

from __future__ import annotations

import logging
import os
from typing import Any

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "opsconsole.settings")

logger = logging.getLogger(__name__)


def _tolerate_broker_gone_while_requeueing() -> None:
    """Keep a worker alive through a Redis restart while an acks_late task runs.

    On connection loss kombu closes the old channel, requeueing its unacked messages, and the
    running task later acks on that channel: both go through a connection already torn down
    (AttributeError: 'NoneType' has no 'hostname' / 'client'), which Celery takes as
    unrecoverable, so the worker exits instead of carrying on with its new connection (found
    by tests/drills/test_redis_restarted.py; celery/celery#10205 family). Skipping both loses
    nothing: a message left in Redis' unacked index comes back after visibility_timeout (the
    services are idempotent), and one that died with the broker's memory is gone either way.
    """
    import redis
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
            return None

        return call

    for name in ("restore_unacked", "ack"):
        setattr(qos, name, tolerant(getattr(qos, name)))
    qos.tolerates_broker_gone = True  # type: ignore[attr-defined]


_tolerate_broker_gone_while_requeueing()

# Every task's base: a database or Redis gone for a moment is retried, not the task's failure.
app = Celery("opsconsole", task_cls="jobs.task_base:JobTask")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
# Every worker keeps its heartbeat in Redis: what health and the NoWorkers alert read.
app.steps["consumer"].add("jobs.heartbeat:WorkerHeartbeat")
