"""Job history writes and `job_enqueue`, the one way work is queued.

Every door (admin action, API view, management command) and every service that queues a
follow-up calls `job_enqueue` by job name: the JobRun row exists before any worker can start
the task, and the message is published only after the surrounding transaction commits.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from typing import Any

from celery import current_app
from django.db import transaction
from django.utils import timezone
from kombu.exceptions import OperationalError as KombuOperationalError
from redis.exceptions import RedisError

from audit.services import audit_record
from core.counters import counter_inc
from core.errors import Unavailable
from core.logging import log_context
from jobs.models import JobRun
from jobs.specs import JOBS_BY_NAME

logger = logging.getLogger(__name__)


def job_run_started(
    *,
    task_id: str,
    task_name: str,
    args: list[Any],
    kwargs: dict[str, Any],
    trigger: str,
    triggered_by: str,
    correlation_id: str,
    worker: str,
) -> JobRun:
    """Mark (or create) the JobRun of a task that a worker has just started."""
    now = timezone.now()
    defaults: dict[str, Any] = {
        "job_name": task_name.rsplit(".", 1)[-1],
        "task_name": task_name,
        "status": JobRun.Status.RUNNING,
        "started_at": now,
        "finished_at": None,
        "duration_ms": None,
        "error": "",
        "worker": worker,
        "args": args,
        "kwargs": kwargs,
    }
    run, created = JobRun.objects.get_or_create(
        task_id=task_id,
        defaults={
            **defaults,
            "trigger": trigger or JobRun.Trigger.SCHEDULE if task_name in JOBS_BY_NAME else trigger or JobRun.Trigger.CHAIN,
            "triggered_by": triggered_by,
            "correlation_id": correlation_id or task_id,
            "attempts": 1,
        },
    )
    if not created:
        # A redelivery or retry of the same task id: one row, attempts counted.
        JobRun.objects.filter(pk=run.pk).update(attempts=run.attempts + 1, **defaults)
        run.refresh_from_db()
    return run


def job_run_finished(*, task_id: str, status: str, summary: dict[str, Any] | None = None, error: str = "") -> None:
    now = timezone.now()
    run = JobRun.objects.filter(task_id=task_id).only("started_at", "job_name").first()
    if run is None:
        return
    duration_ms = int((now - run.started_at).total_seconds() * 1000) if run.started_at else None
    updates: dict[str, Any] = {"status": status}
    if error or status != JobRun.Status.REVOKED:  # a revoke keeps the reason job_run_revoke wrote
        updates["error"] = error[:10000]
    if status != JobRun.Status.RETRYING:
        updates.update(finished_at=now, duration_ms=duration_ms)
    if summary is not None:
        updates["summary"] = summary
    rows = JobRun.objects.filter(task_id=task_id)
    if status != JobRun.Status.REVOKED:
        # An operator's revoke stands: a terminated task's process may still report its end.
        rows = rows.exclude(status=JobRun.Status.REVOKED)
    rows.update(**updates)
    # Counted once written: a write retried after a lost connection (jobs.signals) counts once.
    if status != JobRun.Status.RETRYING:
        _count_finished(run.job_name, status)


def job_run_succeeded(*, task_id: str, retval: Any) -> None:
    """The run of `task_id` returned `retval`: success, its summary the returned dict."""
    summary = retval if isinstance(retval, dict) else {"result": retval} if retval is not None else {}
    job_run_finished(task_id=task_id, status=JobRun.Status.SUCCESS, summary=summary)


def job_subject_add(**values: Any) -> None:
    """Record in the running task's JobRun what it works on (lists are merged, e.g.
    `album_sources=[...]`, `accounts=[...]`), so job history finds it by subject. Written as the
    work is claimed, not at the end: a run that is killed still names what it touched.
    Outside a task (a service called from a door or a test) it does nothing."""
    from celery import current_task

    task_id = getattr(getattr(current_task, "request", None), "id", None)
    if not task_id or not values:
        return
    with transaction.atomic():
        run = JobRun.objects.select_for_update().filter(task_id=task_id).only("subject").first()
        if run is None:
            return
        subject = dict(run.subject or {})
        for name, value in values.items():
            if isinstance(value, (list, tuple, set)):
                merged = {*subject.get(name, []), *value}
                subject[name] = sorted(merged, key=str)
            else:
                subject[name] = value
        JobRun.objects.filter(pk=run.pk).update(subject=subject)


def _count_finished(job_name: str, status: str) -> None:
    # A true counter in Redis (/metrics: job_runs_total): the retention prune of JobRun rows
    # must never make it fall, which Prometheus would read as a counter reset.
    counter_inc("job_runs_total", best_effort=True, job=job_name, status=status)


def _correlation_id(task_id: str) -> str:
    # A request's id (API/admin) or the running task's correlation id follows the work it queues.
    context = log_context.get()
    return context.get("request_id") or context.get("correlation_id") or task_id


def job_enqueue_many(
    name: str,
    *,
    trigger: str,
    triggered_by: str = "",
    kwargs_list: list[dict[str, Any]],
    subjects: list[dict[str, Any]] | None = None,
    args: list[Any] | None = None,
) -> list[JobRun]:
    """Queue one `name` task per kwargs and record who asked: the JobRun rows (one INSERT)
    exist before any worker starts, and the messages are published only after commit."""
    now = timezone.now()
    runs = []
    for index, kwargs in enumerate(kwargs_list):
        task_id = str(uuid.uuid4())
        runs.append(
            JobRun(
                job_name=name.rsplit(".", 1)[-1],
                task_name=name,
                task_id=task_id,
                trigger=trigger,
                triggered_by=triggered_by[:150],
                correlation_id=_correlation_id(task_id)[:64],
                status=JobRun.Status.QUEUED,
                queued_at=now,
                args=args or [],
                kwargs=kwargs,
                subject=subjects[index] if subjects else {},
            )
        )
    JobRun.objects.bulk_create(runs, batch_size=1000)

    def publish() -> None:
        for index, run in enumerate(runs):
            headers = {"trigger": trigger, "triggered_by": triggered_by, "correlation_id": run.correlation_id}
            try:
                # Waits out a broker restart first (CELERY_TASK_PUBLISH_RETRY_POLICY).
                current_app.send_task(name, args=run.args, kwargs=run.kwargs, task_id=run.task_id, headers=headers)
            except (KombuOperationalError, RedisError) as exc:
                _unpublished(runs[index:], total=len(runs), error=exc)

    # Publish after commit: a worker must never look for a row that is not there yet.
    transaction.on_commit(publish)
    return runs


class QueueUnavailable(Unavailable):
    """The broker stayed away through the publish's retries: the runs named were never queued."""


def _unpublished(runs: list[JobRun], *, total: int, error: BaseException) -> None:
    """Runs committed but never queued end `failed` with the reason, never `queued` for good
    (the chaos soak found a bulk reshuffle's 180 runs waiting forever after a Redis restart)."""
    reason = f"not queued: the broker was unreachable ({type(error).__name__}: {error}); nothing ran"[:2000]
    JobRun.objects.filter(pk__in=[run.pk for run in runs], status=JobRun.Status.QUEUED).update(
        status=JobRun.Status.FAILED, error=reason, finished_at=timezone.now()
    )
    logger.error("job runs not queued", extra={"job": runs[0].job_name, "runs": len(runs), "of": total, "error": str(error)})
    raise QueueUnavailable(
        f"{len(runs)} of {total} {runs[0].job_name} runs could not be queued (the broker is unreachable)."
    ) from error


def job_enqueue(
    name: str,
    *,
    trigger: str,
    triggered_by: str = "",
    kwargs: dict[str, Any] | None = None,
    subject: dict[str, Any] | None = None,
    args: list[Any] | None = None,
) -> JobRun:
    """Queue the task `name` (a job name, or any task's name) once; see `job_enqueue_many`."""
    [run] = job_enqueue_many(
        name, trigger=trigger, triggered_by=triggered_by, kwargs_list=[kwargs or {}], subjects=[subject or {}], args=args
    )
    return run


@transaction.atomic
def job_set_enabled(*, name: str, enabled: bool, actor: str) -> bool:
    """Toggle a periodic task; beat notices without a restart (PeriodicTask.save bumps PeriodicTasks).
    Audited (`periodic_task.enable|disable`) even when it was already so; returns whether it changed."""
    from django_celery_beat.models import PeriodicTask

    task = PeriodicTask.objects.select_for_update().get(name=name)
    changed = task.enabled != enabled
    if changed:
        task.enabled = enabled
        task.save(update_fields=["enabled", "date_changed", "last_run_at"])
        logger.info("periodic task toggled", extra={"job": name, "enabled": enabled, "actor": actor})
    audit_record(
        actor=actor,
        action="periodic_task.enable" if enabled else "periodic_task.disable",
        target=task,
        target_repr=task.name,
        details={"changed": changed},
    )
    return changed


JobPreview = Callable[[], dict[str, Any]]
_previews: dict[str, JobPreview] = {}


def job_preview_register(task_name: str, preview: JobPreview) -> None:
    """The app owning `task_name` says what a run of it now would touch and call (its dry run,
    spotify.previews.CallPlan's shape); jobs sits below the apps and cannot compute it."""
    _previews[task_name] = preview


def job_preview(*, name: str) -> dict[str, Any] | None:
    """What job_run_now(name) would do, for the jobs whose owner registered a dry run; else None.
    Writes nothing (no JobRun, no audit row)."""
    from django_celery_beat.models import PeriodicTask

    task = PeriodicTask.objects.filter(name=name).first()
    preview = _previews.get(task.task if task is not None else name)
    return preview() if preview is not None else None


@transaction.atomic
def job_run_now(*, name: str, actor: str, trigger: str) -> JobRun:
    """Queue a run of the periodic task `name` (or of the job/task named so) at once, audited as
    `periodic_task.run_now` with the run's task id."""
    from django_celery_beat.models import PeriodicTask

    task = PeriodicTask.objects.filter(name=name).first()
    task_name = task.task if task is not None else name
    run = job_enqueue(task_name, trigger=trigger, triggered_by=actor)
    audit_record(
        actor=actor,
        action="periodic_task.run_now",
        target_type="periodic task",
        target_id=str(task.pk) if task is not None else run.job_name,
        target_repr=task.name if task is not None else run.job_name,
        details={"task_id": run.task_id, "job_run": run.pk},
    )
    return run


@transaction.atomic
def job_run_retry(*, run: JobRun, actor: str, trigger: str) -> JobRun:
    """Queue the same task with the same arguments and subject again; audited on the old run."""
    again = job_enqueue(run.task_name, trigger=trigger, triggered_by=actor, args=run.args, kwargs=run.kwargs, subject=run.subject)
    audit_record(
        actor=actor,
        action="job_run.retry",
        target=run,
        target_repr=f"{run.job_name} ({run.task_id})",
        details={"task_id": again.task_id, "job_run": again.pk},
    )
    return again


@transaction.atomic
def job_ping_set(*, name: str, url: str, actor: str) -> bool:
    """Set (or with an empty `url`, remove) the job's ping URL; returns whether anything changed.
    Raises netguard.TargetRefused for a URL the workers must not call."""
    from core.netguard import url_check_target
    from jobs.models import JobPing

    job_name = name.rsplit(".", 1)[-1]
    if not url:
        deleted, _ = JobPing.objects.filter(job_name=job_name).delete()
        if deleted:
            audit_record(actor=actor, action="job.ping_url_clear", target_type="job", target_id=job_name, target_repr=job_name)
        return bool(deleted)
    url_check_target(url)
    JobPing.objects.update_or_create(job_name=job_name, defaults={"url": url})
    audit_record(actor=actor, action="job.ping_url_set", target_type="job", target_id=job_name, target_repr=job_name)
    return True
