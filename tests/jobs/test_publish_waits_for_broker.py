"""A message published while the broker restarts waits for it instead of failing at once.

Beat's schedule, a queued job and a task's retry are all publishes. Celery's default policy gives
up after about a second: the chaos soak saw beat skip scheduled runs, and retries dropped, during a
Redis restart of a few seconds (CELERY_TASK_PUBLISH_RETRY_POLICY waits ~25 s). Here a private Redis
is the broker, it is down when two jobs are queued and comes back three seconds later: both
messages reach it and both runs stay `queued`.
"""

from __future__ import annotations

import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis

from jobs.models import JobRun
from jobs.services import job_enqueue_many
from opsconsole.celery import app as celery_app
from tests.drills.test_redis_restarted import PrivateRedis, _use_broker

pytestmark = [pytest.mark.django_db, pytest.mark.slow]

DOWN_SECONDS = 3.0


@pytest.fixture
def broker() -> Iterator[PrivateRedis]:
    saved = celery_app.conf.broker_url
    with tempfile.TemporaryDirectory(prefix="publish-redis-") as workdir:
        server = PrivateRedis(Path(workdir))
        server.start()
        _use_broker(server.url)
        try:
            yield server
        finally:
            _use_broker(saved)
            server.stop()


def _messages(server: PrivateRedis) -> int:
    """Messages waiting in the broker's queues (kombu keeps each queue as a Redis list)."""
    client = redis.Redis(port=server.port)
    return sum(int(client.llen(key)) for key in client.scan_iter() if client.type(key) == b"list")


def test_jobs_queued_while_the_broker_restarts_are_published_once_it_is_back(
    broker: PrivateRedis, django_capture_on_commit_callbacks: Any
) -> None:
    broker.stop()
    back = threading.Timer(DOWN_SECONDS, broker.start)
    back.start()
    try:
        with django_capture_on_commit_callbacks(execute=True):
            runs = job_enqueue_many("metrics_snapshot", trigger=JobRun.Trigger.API, kwargs_list=[{}, {}])
    finally:
        back.join()
    statuses = list(JobRun.objects.filter(pk__in=[r.pk for r in runs]).values_list("status", flat=True))
    assert statuses == ["queued", "queued"]
    assert _messages(broker) == 2
