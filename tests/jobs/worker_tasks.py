"""A task that reports what a running worker's token buckets run with (tests/jobs/test_control.py)."""

from __future__ import annotations

from celery import shared_task

from spotify.ratelimit import bucket_limits


@shared_task(name="tests.bucket_limits_of")
def bucket_limits_of(kind: str, ident: str) -> list[float]:
    return list(bucket_limits(kind, ident))  # type: ignore[arg-type]
