"""Operator control of running work: revoke or terminate a run, pause and resume a queue, the
kill switch (all work paused).

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
from datetime import datetime
from typing import Any

from celery import current_app
from django.db import transaction
from django.utils import timezone

from audit.models import AuditEvent
from audit.services import audit_record
from core.redis import get_redis, key
from jobs.models import JobRun, KillSwitch

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


def _active_consumers(names: list[str]) -> dict[str, list[str]]:
    """The workers consuming each of `names` now, asked once."""
    replies = current_app.control.inspect(timeout=CONTROL_REPLY_TIMEOUT_SECONDS).active_queues() or {}
    return {
        name: sorted(worker for worker, queues in replies.items() if any(q.get("name") == name for q in queues or []))
        for name in names
    }


def _queues_stop(names: list[str]) -> dict[str, list[str]]:
    """Every worker consuming one of `names` stops taking from it, and is noted so that
    `_queues_start` gives the queue back to it. The one way intake stops: a queue pause and the
    kill switch both come here, and a worker starting later honours both (`queues_held`)."""
    client = get_redis()
    stopped = _active_consumers(names)
    for name, workers in stopped.items():
        if workers:
            client.sadd(_consumers_key(name), *workers)
            current_app.control.cancel_consumer(name, destination=workers, reply=True, timeout=CONTROL_REPLY_TIMEOUT_SECONDS)
    return stopped


def _queues_start(names: list[str]) -> dict[str, list[str]]:
    """The workers noted by `_queues_stop` (or at their start) take `names` up again."""
    client = get_redis()
    started: dict[str, list[str]] = {}
    for name in names:
        started[name] = sorted(str(worker) for worker in client.smembers(_consumers_key(name)))
        if started[name]:
            current_app.control.add_consumer(name, destination=started[name], reply=True, timeout=CONTROL_REPLY_TIMEOUT_SECONDS)
            # Forgotten only once told: a broadcast that failed is sent again by the next resume.
            client.srem(_consumers_key(name), *started[name])
    return started


def queues_held() -> set[str]:
    """The queues no worker may take from: the paused ones, and every queue while the kill
    switch is engaged."""
    return set(celery_queue_names()) if kill_switch_get().engaged else queues_paused()


def queue_pause(*, name: str, actor: str) -> QueueControl:
    """Stop every worker consuming `name` (messages stay queued); workers that start later stay
    off it until `queue_resume`. Raises UnknownQueue."""
    if name not in celery_queue_names():
        raise UnknownQueue(name)
    changed = bool(get_redis().sadd(_paused_key(), name))
    workers = _queues_stop([name])[name]
    audit_record(
        actor=actor, action="queue.pause", target_type="queue", target_id=name, target_repr=name, details={"workers": workers}
    )
    logger.warning("queue paused", extra={"queue": name, "workers": workers, "actor": actor})
    return QueueControl(name=name, paused=True, changed=changed, workers=workers)


def queue_resume(*, name: str, actor: str) -> QueueControl:
    """Workers that consumed `name` when it was paused (or started while it was) take it up again,
    unless the kill switch holds every queue: then they do when it is released.
    Raises UnknownQueue."""
    if name not in celery_queue_names():
        raise UnknownQueue(name)
    changed = bool(get_redis().srem(_paused_key(), name))
    held = kill_switch_get().engaged
    workers = [] if held else _queues_start([name])[name]
    audit_record(
        actor=actor,
        action="queue.resume",
        target_type="queue",
        target_id=name,
        target_repr=name,
        details={"workers": workers, **({"kill_switch": "engaged"} if held else {})},
    )
    logger.warning("queue resumed", extra={"queue": name, "workers": workers, "actor": actor, "kill_switch": held})
    return QueueControl(name=name, paused=held, changed=changed, workers=workers)


def worker_apply_paused_queues(consumer: Any) -> list[str]:
    """At worker start: stop consuming the held queues (paused, or all under the kill switch)
    this worker was told to consume, and note it, so a resume gives them back to it."""
    mine = [name for name in queues_held() if name in consumer.app.amqp.queues.consume_from]
    client = get_redis()
    for name in mine:
        consumer.cancel_task_queue(name)
        client.sadd(_consumers_key(name), consumer.hostname)
    if mine:
        logger.warning("queues paused at worker start", extra={"queues": mine, "worker": consumer.hostname})
    return mine


# --- the kill switch: all work paused -------------------------------------------------------
#
# One row (KillSwitch). Throwing it stops every queue's intake the way a queue pause does
# (`_queues_stop`; workers starting meanwhile read `queues_held`) and beat sends nothing
# (jobs.beat). The automatic resume is beat's own tick (jobs.beat.HeartbeatScheduler), not a
# task: a task would need the dispatch and the intake the switch itself stops.
# docs/runbooks/kill-switch.md.

REASON_MAX_LENGTH = 500


class KillSwitchInvalid(Exception):
    """The input a throw was refused for: {field: [messages]} (the API answers 400 with them)."""

    def __init__(self, errors: dict[str, list[str]]) -> None:
        super().__init__("; ".join(f"{name}: {' '.join(messages)}" for name, messages in errors.items()))
        self.errors = errors


@dataclass(frozen=True)
class KillSwitchControl:
    switch: KillSwitch
    changed: bool
    workers: list[str]


def kill_switch_get() -> KillSwitch:
    """The switch as it stands (an unsaved, disengaged row before the first throw)."""
    return KillSwitch.objects.filter(pk=KillSwitch.SINGLETON).first() or KillSwitch(pk=KillSwitch.SINGLETON)


def kill_switch_state(switch: KillSwitch | None = None) -> dict[str, Any]:
    """{engaged, reason, by, since, resume_at}: the API's, health's and the admin's one shape."""
    switch = switch or kill_switch_get()
    if not switch.engaged:
        return {"engaged": False, "reason": "", "by": "", "since": None, "resume_at": None}
    return {
        "engaged": True,
        "reason": switch.reason,
        "by": switch.engaged_by,
        "since": switch.engaged_at,
        "resume_at": switch.resume_at,
    }


def kill_switch_input_errors(*, reason: str, resume_at: datetime | None, now: datetime | None = None) -> dict[str, list[str]]:
    """Why a throw with this input is refused ({} when it is not): every door checks with this."""
    errors: dict[str, list[str]] = {}
    if not (reason or "").strip():
        errors["reason"] = ["Say why all work stops: a reason is required."]
    elif len(reason.strip()) > REASON_MAX_LENGTH:
        errors["reason"] = [f"At most {REASON_MAX_LENGTH} characters."]
    if resume_at is not None:
        if timezone.is_naive(resume_at):
            errors["resume_at"] = ["Give a time zone (e.g. 2026-12-07T16:00:00Z)."]
        elif resume_at <= (now or timezone.now()):
            errors["resume_at"] = ["The resume time is in the past; give a later one, or none to resume by hand."]
    return errors


def kill_switch_refused(*, actor: str, action: str, why: str) -> None:
    """A throw or resume by someone without the admin role: refused, and on the record."""
    audit_record(
        actor=actor,
        action=action,
        target_type="kill switch",
        target_id=str(KillSwitch.SINGLETON),
        target_repr="kill switch",
        outcome=AuditEvent.Outcome.REFUSED,
        details={"why": why},
    )
    logger.warning("kill switch change refused", extra={"actor": actor, "action": action, "why": why})


def _kill_switch_broadcast(
    *, actor: str, action: str, switch: KillSwitch, broadcast: Callable[[], dict[str, list[str]]], details: dict[str, Any]
) -> list[str]:
    """Tell the workers (`broadcast`: queue name -> workers told) and audit the change whatever
    the broadcast did: the switch is changed all the same (workers starting now honour it), and a
    failed broadcast is on the record and raised to the caller. Returns the workers told."""
    workers: list[str] = []
    broadcast_error = ""
    try:
        workers = sorted({worker for names in broadcast().values() for worker in names})
    except Exception as exc:
        broadcast_error = f"{type(exc).__name__}: {exc}"
        raise
    finally:
        audit_record(
            actor=actor,
            action=action,
            target=switch,
            target_repr="kill switch",
            details={**details, "workers": workers, **({"broadcast_error": broadcast_error} if broadcast_error else {})},
        )
    return workers


def kill_switch_engage(*, reason: str, resume_at: datetime | None, actor: str) -> KillSwitchControl:
    """Pause all work: no worker takes from any queue (messages stay queued; running tasks
    finish), beat sends nothing, until `kill_switch_release` or `resume_at`. Throwing it again
    while engaged changes the reason and resume time. Raises KillSwitchInvalid."""
    now = timezone.now()
    errors = kill_switch_input_errors(reason=reason, resume_at=resume_at, now=now)
    if errors:
        raise KillSwitchInvalid(errors)
    with transaction.atomic():
        switch, _ = KillSwitch.objects.select_for_update().get_or_create(pk=KillSwitch.SINGLETON)
        was_engaged = switch.engaged
        switch.engaged, switch.reason, switch.engaged_by, switch.resume_at = True, reason.strip(), actor, resume_at
        if not was_engaged:
            switch.engaged_at = now
        switch.save()
    workers = _kill_switch_broadcast(
        actor=actor,
        action="kill_switch.engage",
        switch=switch,
        broadcast=lambda: _queues_stop(celery_queue_names()),
        details={"reason": switch.reason, "resume_at": resume_at.isoformat() if resume_at else None, "was_engaged": was_engaged},
    )
    logger.warning("kill switch engaged", extra={"actor": actor, "reason": switch.reason, "workers": workers})
    return KillSwitchControl(switch=switch, changed=not was_engaged, workers=workers)


def kill_switch_release(*, actor: str) -> KillSwitchControl:
    """Resume all work: the workers stopped by the switch (or started under it) take their
    queues again, except queues paused on their own; beat sends again. Audited even when the
    switch was off (`changed` False)."""
    control = _kill_switch_release(actor=actor, due_by=None)
    assert control is not None
    return control


def kill_switch_resume_due(*, now: datetime | None = None) -> bool:
    """Release the switch if its resume time has come; True if this call did. Beat's tick
    calls it (jobs.beat), so it needs neither beat's dispatch nor a worker."""
    return _kill_switch_release(actor="schedule", due_by=now or timezone.now()) is not None


def _kill_switch_release(*, actor: str, due_by: datetime | None) -> KillSwitchControl | None:
    """With `due_by`, only a switch whose `resume_at` has come by then is released (None when
    none was). One caller wins a race: the release is a conditional UPDATE, and only the
    winner broadcasts."""
    now = timezone.now()
    engaged = KillSwitch.objects.filter(pk=KillSwitch.SINGLETON, engaged=True)
    if due_by is not None:
        engaged = engaged.filter(resume_at__lte=due_by)
    changed = bool(engaged.update(engaged=False, released_by=actor, released_at=now))
    if not changed and due_by is not None:
        # Beat asks on every tick: nothing due is one UPDATE that matched no row.
        return None
    switch = kill_switch_get()

    def start_queues() -> dict[str, list[str]]:
        # By hand, even when it was off: a resume whose broadcast failed is put right by another.
        if not (changed or due_by is None):
            return {}
        paused = queues_paused()
        return _queues_start([name for name in celery_queue_names() if name not in paused])

    workers = _kill_switch_broadcast(
        actor=actor,
        action="kill_switch.resume",
        switch=switch,
        broadcast=start_queues,
        details={
            "automatic": due_by is not None,
            "was_engaged": changed,
            "reason": switch.reason,
            "engaged_by": switch.engaged_by,
        },
    )
    logger.warning("kill switch released", extra={"actor": actor, "automatic": due_by is not None, "workers": workers})
    return KillSwitchControl(switch=switch, changed=changed, workers=workers)
