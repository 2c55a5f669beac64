"""Tasks loaded only into test workers (`--include tests.metrics.worker_tasks`).

They stand in for "a long job" and "a job that counts an event" without depending on
Spotify, so queue triage and /metrics can be checked against a real worker process.
"""

from __future__ import annotations

import time

from celery import shared_task

from core.counters import counter_inc


@shared_task(name="ops_test_sleep")
def ops_test_sleep(seconds: float) -> dict[str, float]:
    time.sleep(seconds)
    return {"slept": seconds}


@shared_task(name="ops_test_count")
def ops_test_count(name: str, amount: float = 1, **labels: str) -> dict[str, float]:
    counter_inc(name, amount, **labels)
    return {"counted": amount}
