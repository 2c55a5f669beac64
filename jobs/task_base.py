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

from celery import Task, states
from celery.exceptions import WorkerLostError
from celery.worker.request import Request
from django.db import InterfaceError, OperationalError
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
    acknowledging the message as done, with no signal: the run is recorded here, from the stored
    result (found by the chaos soak: a fetch_audio_features run left `running` for good)."""

    def on_failure(self, exc_info: Any, send_failed_event: bool = True, return_ok: bool = False) -> Any:
        answer = super().on_failure(exc_info, send_failed_event=send_failed_event, return_ok=return_ok)
        # The pool hands the error over wrapped (billiard's ExceptionWithTraceback).
        exc = getattr(exc_info.exception, "exc", exc_info.exception)
        if isinstance(exc, WorkerLostError) and not self.task.name.startswith("celery."):
            try:
                meta = self.task.backend.get_task_meta(self.id)
            except Exception as error:  # the stores going down with the worker (a full stop): the run is left as it was
                logger.warning("run of a lost worker not recorded: %s", error, extra={"task_id": self.id})
                return answer
            if meta.get("status") == states.SUCCESS:
                from jobs.services import job_run_succeeded

                job_run_succeeded(task_id=self.id, retval=meta.get("result"))
        return answer


class JobTask(Task):  # type: ignore[misc]
    Request = JobRequest  # type: ignore[assignment]  # Celery takes the class or its dotted name
    autoretry_for = STORE_ERRORS
    retry_backoff = STORE_RETRY_BASE_SECONDS
    retry_backoff_max = STORE_RETRY_MAX_SECONDS
    retry_jitter = False
    retry_kwargs = {"max_retries": STORE_MAX_RETRIES}
