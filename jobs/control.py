"""Operator control of running work: revoke or terminate a run, pause and resume a queue.

Both go through Celery's remote control (a broadcast every worker obeys) and leave their state
where a worker that starts later finds it: a revoked run stays `revoked` in the job history,
and the paused queues are a set in Redis that every worker reads when it becomes ready. The
operator's side: docs/runbooks/stop-runaway-task.md and docs/runbooks/pause-resume-queue.md.

A terminated task dies mid-flight (SIGTERM to its pool process: no `finally`, no rollback of
anything outside the database), so apps register a cleanup per task name that undoes what a
run holds outside the database — the playlist lock it owns, the ingest claims it made —
run by the worker once the process is gone (see `signals._task_revoked`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from celery import current_app
from django.db import transaction
from django.utils import timezone

from audit.services import audit_record
from core.redis import get_redis, key
from jobs.models import JobRun

logger = logging.getLogger(__name__)

CONTROL_REPLY_TIMEOUT_SECONDS = 1.0

# --- cleanups after a revoke ----------------------------------------------------------------

RevokeCleanup = Callable[..., Any]
_cleanups: dict[str, list[RevokeCleanup]] = {}


def job_revoke_cleanup_register(task_name: str, cleanup: RevokeCleanup) -> None:
    """`cleanup(task_id=..., args=[...], kwargs={...})` runs after a run of `task_name` is
    revoked or terminated; it must be idempotent and touch only what that task id owns."""
    if cleanup not in _cleanups.setdefault(task_name, []):
        _cleanups[task_name].append(cleanup)


def job_revoke_cleanups_run(*, task_name: str, task_id: str, args: list[Any], kwargs: dict[str, Any]) -> dict[str, Any]:
    """Run the cleanups registered for `task_name`; one failing does not stop the others."""
    results: dict[str, Any] = {}
    for cleanup in _cleanups.get(task_name, []):
        name = getattr(cleanup, "__name__", repr(cleanup))
        try:
            results[name] = cleanup(task_id=task_id, args=list(args or []), kwargs=dict(kwargs or {}))
        except Exception as exc:
            logger.exception("revoke cleanup failed", extra={"task_id": task_id, "cleanup": name})
            results[name] = f"failed: {type(exc).__name__}"
    if results:
        logger.warning("revoked run cleaned up", extra={"task_id": task_id, "job": task_name, "cleanups": results})
    return results


# --- revoke / terminate ---------------------------------------------------------------------

REVOCABLE = (JobRun.Status.QUEUED, JobRun.Status.RUNNING, JobRun.Status.RETRYING)


class RunFinished(Exception):
    """The run already ended: nothing to revoke (the API answers 409)."""

    def __init__(self, run: JobRun) -> None:
        super().__init__(f"run {run.pk} ({run.job_name}) already finished: {run.status}")
        self.run = run


def job_run_revoke(*, run: JobRun, terminate: bool, actor: str) -> JobRun:
    """Revoke a queued or running run: no worker starts it; with `terminate`, the worker running
    it kills it and then runs the task's revoke cleanups. The run becomes `revoked`.
    Raises RunFinished for a run that already ended (the refusal is audited too)."""
    try:
        return _job_run_revoke(run=run, terminate=terminate, actor=actor)
    except RunFinished as exc:
        audit_record(
            actor=actor,
            action="job_run.terminate" if terminate else "job_run.revoke",
            target=exc.run,
            target_repr=f"{exc.run.job_name} ({exc.run.task_id})",
            outcome="refused",
            details={"status": exc.run.status},
        )
        raise


@transaction.atomic
def _job_run_revoke(*, run: JobRun, terminate: bool, actor: str) -> JobRun:
    run = JobRun.objects.select_for_update().get(pk=run.pk)
    if run.status not in REVOCABLE:
        raise RunFinished(run)
    was = run.status
    now = timezone.now()
    run.status = JobRun.Status.REVOKED
    run.finished_at = now
    run.error = f"{'terminated' if terminate else 'revoked'} by {actor}"
    if run.started_at:
        run.duration_ms = int((now - run.started_at).total_seconds() * 1000)
    run.save(update_fields=["status", "finished_at", "error", "duration_ms"])
    audit_record(
        actor=actor,
        action="job_run.terminate" if terminate else "job_run.revoke",
        target=run,
        target_repr=f"{run.job_name} ({run.task_id})",
        details={"was": was, "terminate": terminate},
    )
    task_id = run.task_id

    def broadcast() -> None:
        # SIGTERM to the pool process running it (prefork); a queued message is dropped on arrival.
        current_app.control.revoke(task_id, terminate=terminate, signal="SIGTERM")

    transaction.on_commit(broadcast)
    logger.warning("job run revoked", extra={"task_id": task_id, "terminate": terminate, "actor": actor})
    return run


def job_runs_revoked_pending(*, limit: int = 10000) -> list[str]:
    """Task ids revoked before any worker started them: a worker that starts later (it never
    heard the broadcast) must still drop them."""
    return list(
        JobRun.objects.filter(status=JobRun.Status.REVOKED, started_at__isnull=True)
        .order_by("-finished_at")
        .values_list("task_id", flat=True)[:limit]
    )


# --- pause / resume a queue -----------------------------------------------------------------


class UnknownQueue(Exception):
    def __init__(self, name: str) -> None:
        super().__init__(f"No queue named {name!r}; known: {', '.join(celery_queue_names())}.")
        self.name = name


def celery_queue_names() -> list[str]:
    """The queues the project declares (default queue, task_queues, routes)."""
    conf = current_app.conf
    names = {conf.task_default_queue or "celery"}
    for queue in conf.task_queues or ():
        names.add(queue.name)
    routes = conf.task_routes or {}
    if isinstance(routes, dict):
        for route in routes.values():
            if isinstance(route, dict) and route.get("queue"):
                names.add(str(route["queue"]))
    return sorted(names)


def _paused_key() -> str:
    return key("queues", "paused")


def _consumers_key(name: str) -> str:
    return key("queues", "paused", name, "workers")


def queues_paused() -> set[str]:
    return {str(name) for name in get_redis().smembers(_paused_key())}


@dataclass(frozen=True)
class QueueControl:
    name: str
    paused: bool
    changed: bool
    workers: list[str]


def _active_consumers(name: str) -> list[str]:
    replies = current_app.control.inspect(timeout=CONTROL_REPLY_TIMEOUT_SECONDS).active_queues() or {}
    return sorted(worker for worker, queues in replies.items() if any(q.get("name") == name for q in queues or []))


def queue_pause(*, name: str, actor: str) -> QueueControl:
    """Stop every worker consuming `name` (messages stay queued); workers that start later stay
    off it until `queue_resume`. Raises UnknownQueue."""
    if name not in celery_queue_names():
        raise UnknownQueue(name)
    client = get_redis()
    changed = bool(client.sadd(_paused_key(), name))
    workers = _active_consumers(name)
    if workers:
        client.sadd(_consumers_key(name), *workers)
        current_app.control.cancel_consumer(name, destination=workers, reply=True, timeout=CONTROL_REPLY_TIMEOUT_SECONDS)
    audit_record(
        actor=actor, action="queue.pause", target_type="queue", target_id=name, target_repr=name, details={"workers": workers}
    )
    logger.warning("queue paused", extra={"queue": name, "workers": workers, "actor": actor})
    return QueueControl(name=name, paused=True, changed=changed, workers=workers)


def queue_resume(*, name: str, actor: str) -> QueueControl:
    """Workers that consumed `name` when it was paused (or started while it was) take it up again.
    Raises UnknownQueue."""
    if name not in celery_queue_names():
        raise UnknownQueue(name)
    client = get_redis()
    changed = bool(client.srem(_paused_key(), name))
    workers = sorted(str(worker) for worker in client.smembers(_consumers_key(name)))
    client.delete(_consumers_key(name))
    if workers:
        current_app.control.add_consumer(name, destination=workers, reply=True, timeout=CONTROL_REPLY_TIMEOUT_SECONDS)
    audit_record(
        actor=actor, action="queue.resume", target_type="queue", target_id=name, target_repr=name, details={"workers": workers}
    )
    logger.warning("queue resumed", extra={"queue": name, "workers": workers, "actor": actor})
    return QueueControl(name=name, paused=False, changed=changed, workers=workers)


def worker_apply_paused_queues(consumer: Any) -> list[str]:
    """At worker start: stop consuming the paused queues this worker was told to consume, and
    note it, so a resume gives them back to it."""
    paused = queues_paused()
    mine = [name for name in paused if name in consumer.app.amqp.queues.consume_from]
    client = get_redis()
    for name in mine:
        consumer.cancel_task_queue(name)
        client.sadd(_consumers_key(name), consumer.hostname)
    if mine:
        logger.warning("queues paused at worker start", extra={"queues": mine, "worker": consumer.hostname})
    return mine
