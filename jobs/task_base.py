"""The base class of every Celery task (the app's `task_cls`): our own stores gone for a moment are
transient trouble, retried, never the task's failure.

A worker keeps taking messages while PostgreSQL restarts or fails over, or while Redis restarts:
each one failed at once on its first query, was acknowledged as a failure (acks_late acks
failures too) and its work was gone, its JobRun left `queued` for good — the chaos soak saw a
reshuffle wave of 300 lost to a 7-second database restart (RELIABILITY.md). Now such a task comes
back with a growing countdown and finds the work where it left it (the services are idempotent).
Errors a task handles itself (ingest's own database retry, Spotify's) are caught before this.
"""

from __future__ import annotations

import logging
from typing import Any

from celery import Task
from celery.worker.request import Request
from django.db import DatabaseError, InterfaceError, OperationalError
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from core.errors import Unavailable

logger = logging.getLogger(__name__)

# A dropped or refused connection to PostgreSQL (Django wraps psycopg's) or to Redis, and follow-up
# work that could not be queued (jobs.services.QueueUnavailable: those runs are marked failed).
STORE_ERRORS: tuple[type[BaseException], ...] = (
    OperationalError,
    InterfaceError,
    RedisConnectionError,
    RedisTimeoutError,
    Unavailable,
)
# 5 s, 10 s, 20 s, 40 s, then every 60 s: a store down for ten minutes is still waited out.
STORE_RETRY_BASE_SECONDS = 5
STORE_RETRY_MAX_SECONDS = 60
STORE_MAX_RETRIES = 14


class JobRequest(Request):  # type: ignore[misc]
    """A run's message in the worker's main process. A pool process that stored its task's
    success and was lost before the task_postrun signal (SIGKILL, the OOM killer) leaves Celery
    acknowledging the message as done, with no signal: the run is recorded here, from the success
    Celery's own check found (found by the chaos soak: a fetch_audio_features run left `running`
    for good). That check is bounded and answers "not stored" when the backend is down (a full
    stop takes the database with the worker): the run is then left as it was."""

    def _success_was_stored(self) -> dict[str, Any] | bool:
        meta = super()._success_was_stored()  # type: ignore[misc]  # Celery 5.7, not in its stubs
        if meta and not self.task.name.startswith("celery."):
            from jobs.services import job_run_succeeded

            try:
                job_run_succeeded(task_id=self.id, retval=meta.get("result"))
            except DatabaseError as error:
                logger.warning("run of a lost worker not recorded: %s", error, extra={"task_id": self.id})
        return meta


class JobTask(Task):  # type: ignore[misc]
    Request = JobRequest  # type: ignore[assignment]  # Celery takes the class or its dotted name
    autoretry_for = STORE_ERRORS
    retry_backoff = STORE_RETRY_BASE_SECONDS
    retry_backoff_max = STORE_RETRY_MAX_SECONDS
    retry_jitter = False
    retry_kwargs = {"max_retries": STORE_MAX_RETRIES}
