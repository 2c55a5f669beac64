"""Tasks for workers started by tests: what a running worker's token buckets run with
(tests/jobs/test_control.py), a run whose process is lost right after its success was stored
(tests/jobs/test_task_base.py), and a run that takes a while (tests/drills/test_redis_restarted.py)."""

from __future__ import annotations

import os
import signal
import time
from typing import Any

from celery import shared_task, signals

from spotify.ratelimit import bucket_limits


@shared_task(name="tests.bucket_limits_of")
def bucket_limits_of(kind: str, ident: str) -> list[float]:
    return list(bucket_limits(kind, ident))  # type: ignore[arg-type]


@shared_task(name="tests.succeed_then_lost")
def succeed_then_lost() -> dict[str, int]:
    return {"done": 1}


@shared_task(name="tests.take_a_while")
def take_a_while(seconds: float) -> dict[str, int]:
    time.sleep(seconds)
    return {"done": 1}


@signals.task_success.connect
def _lose_the_process_after_success(sender: Any = None, **_: Any) -> None:
    """Between the stored result and task_postrun, as a SIGKILL or the OOM killer can land."""
    if getattr(sender, "name", "") == "tests.succeed_then_lost":
        os.kill(os.getpid(), signal.SIGKILL)
