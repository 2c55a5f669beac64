"""Two scales at once: the schedule's and an operator's after a capacity change. Found by the
chaos soak: the second failed on the scale's lock with a traceback, and the operator's change
waited for the next day's run. It is retried instead, and runs once the first is done."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from core.locks import redis_lock
from jobs.models import JobRun
from jobs.services import job_enqueue

pytestmark = pytest.mark.slow


def test_a_scale_while_another_runs_is_retried_and_then_done(start_celery_worker: Callable[..., Any]) -> None:
    worker = start_celery_worker()
    with redis_lock("playlists-scale", ttl_seconds=120):
        run = job_enqueue(
            "scale_playlists_daily", trigger=JobRun.Trigger.API, triggered_by="api:test", kwargs={"actor": "api:test"}
        )
        worker.wait_until(lambda: JobRun.objects.get(pk=run.pk).status == "retrying", timeout=60)
    worker.wait_until(lambda: JobRun.objects.get(pk=run.pk).status == "success", timeout=120)
    assert "raised unexpected" not in worker.log()
