"""Shared pieces of the fault drills: accounts on the emulator, a small catalog, pool children."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import psutil
import pytest

from ingest.services import album_sources_submit
from tests.fixtures_celery import CeleryWorkerProcess
from tests.playlists.conftest import make_catalog

__all__ = ["make_catalog", "pool_child", "wait_for"]


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




@pytest.fixture
def queue_albums() -> Callable[[list[str]], list[str]]:
    def queue(album_ids: list[str]) -> list[str]:
        results = album_sources_submit(raw_inputs=[f"spotify:album:{a}" for a in album_ids], submitted_by="drill")
        assert {r.status for r in results} == {"accepted"}
        return album_ids

    return queue
