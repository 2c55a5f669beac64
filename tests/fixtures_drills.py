"""Shared pieces of the fault drills: bounded polling and a worker's pool child."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import psutil

from tests.fixtures_celery import CeleryWorkerProcess


def wait_for(predicate: Callable[[], Any], *, timeout: float, interval: float = 0.05, what: str = "condition") -> Any:
    """Poll until truthy; every drill wait is bounded."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"{what} not met within {timeout} s")


def pool_child(worker: CeleryWorkerProcess) -> psutil.Process:
    """The one prefork pool child of a worker started with pool="prefork", concurrency=1."""
    children = psutil.Process(worker.process.pid).children()
    assert len(children) == 1, f"expected one pool child, found {children}"
    return children[0]
