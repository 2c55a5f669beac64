"""JobRun rows written from Celery's own signals, so every task run is recorded."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from celery import signals
from django.db import InterfaceError, OperationalError, connection
from redis.exceptions import RedisError

from core.deploys import process_start_record
from core.logging import log_context
from core.system import worker_memory_record
from jobs import control, services
from jobs.ping import job_ping

logger = logging.getLogger(__name__)


def _ours(task: Any) -> bool:
    return bool(task) and not task.name.startswith("celery.")


# A JobRun write waits out a database gone for a moment (a restart, a terminated connection):
# Celery logs a signal handler's exception and goes on, so a write lost here left a run that had
# done its work `running` for good (found by the chaos soak, after `pg_terminate_backend`).
RECORD_WAITS_SECONDS = (0.5, 1.0, 2.0, 4.0, 8.0, 8.0, 8.0)


def _recorded(write: Callable[[], Any]) -> None:
    for wait in (*RECORD_WAITS_SECONDS, None):
        try:
            write()
            return
        except (OperationalError, InterfaceError):
            # The next try opens a new connection.
            connection.close()
            if wait is None:
                raise
            time.sleep(wait)


@signals.task_prerun.connect
def _task_prerun(task_id: str, task: Any, args: tuple, kwargs: dict, **_: Any) -> None:
    if not _ours(task):
        return
    # Celery's Django fixup already recycles DB connections around each task in workers.
    request = task.request
    headers = {name: getattr(request, name, None) for name in ("trigger", "triggered_by", "correlation_id")}
    log_context.set({"task_id": task_id, "job": task.name, "correlation_id": headers["correlation_id"] or task_id})
    _recorded(
        lambda: services.job_run_started(
            task_id=task_id,
            task_name=task.name,
            args=list(args or ()),
            kwargs=dict(kwargs or {}),
            trigger=headers["trigger"] or "",
            triggered_by=headers["triggered_by"] or "",
            correlation_id=headers["correlation_id"] or "",
            worker=getattr(request, "hostname", "") or "",
        )
    )
    job_ping(task.name.rsplit(".", 1)[-1], "start")


@signals.task_retry.connect
def _task_retry(request: Any, reason: Any, **_: Any) -> None:
    _recorded(lambda: services.job_run_finished(task_id=request.id, status="retrying", error=str(reason)))


@signals.task_revoked.connect
def _task_revoked(request: Any, terminated: bool = False, expired: bool = False, **_: Any) -> None:
    """A revoked message dropped, or a terminated run killed: the run is `revoked`, and what a
    killed run held outside the database (locks, claims) goes back (jobs.control)."""
    task_name = getattr(request, "task", None) or getattr(request, "name", "") or ""
    task_id = getattr(request, "id", "") or ""
    if not task_id or task_name.startswith("celery."):
        return
    _recorded(lambda: services.job_run_finished(task_id=task_id, status="revoked", error="expired" if expired else ""))
    # A dropped message may be the redelivery of a run killed mid-task and revoked since (found by
    # the chaos soak): nothing else frees what that run held. Cleanups release only what this
    # task id owns, so a message revoked before it ever ran frees nothing.
    if terminated or not expired:
        control.job_revoke_cleanups_run(
            task_name=str(task_name),
            task_id=task_id,
            args=list(getattr(request, "args", None) or []),
            kwargs=dict(getattr(request, "kwargs", None) or {}),
        )


@signals.worker_ready.connect
def _worker_ready(sender: Any, **_: Any) -> None:
    # Revoked before this worker existed: it never heard the broadcast.
    from celery.worker import state

    for task_id in control.job_runs_revoked_pending():
        state.revoked.add(task_id)
    control.worker_apply_paused_queues(sender)
    process_start_record(kind="worker", name=str(getattr(sender, "hostname", "") or ""))


@signals.beat_init.connect
def _beat_init(sender: Any, **_: Any) -> None:
    process_start_record(kind="beat")


@signals.task_postrun.connect
def _task_postrun(task_id: str, task: Any, retval: Any, state: str, **_: Any) -> None:
    if not _ours(task) or state == "RETRY":
        return
    if state == "SUCCESS":
        _recorded(lambda: services.job_run_succeeded(task_id=task_id, retval=retval))
        job_ping(task.name.rsplit(".", 1)[-1], "success")
    else:
        error = f"{type(retval).__name__}: {retval}" if isinstance(retval, BaseException) else str(retval)
        _recorded(lambda: services.job_run_finished(task_id=task_id, status="failed", error=error))
        job_ping(task.name.rsplit(".", 1)[-1], "fail")
    if not task.request.is_eager:
        try:
            # In the pool process that ran the task: MemoryUsageHigh watches each worker's largest.
            worker_memory_record(worker=task.request.hostname or "worker")
        except RedisError as exc:
            logger.warning("worker memory not recorded: %s", exc)
    log_context.set({})
