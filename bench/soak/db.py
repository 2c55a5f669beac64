"""The driver's reads of the soak's database, which faults restart under it."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def read(query: Callable[[], T], *, attempts: int = 120, interval: float = 1.0) -> T:
    """Run `query`; a dead connection (a restart) is dropped and the query tried again a while:
    as long as an operator's call waits for web (doors.UNAVAILABLE_RETRY_SECONDS), for a fault
    drawn while a full stop has the whole stack down."""
    from django.db import connections

    for attempt in range(attempts):
        try:
            return query()
        except Exception:
            connections.close_all()
            if attempt == attempts - 1:
                raise
            time.sleep(interval)
    raise AssertionError("unreachable")
