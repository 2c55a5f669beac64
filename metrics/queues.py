"""Queue triage, `/api/ops/queues`: what an on-call engineer checks before draining or resuming.

Queue sizes come straight from the broker's Redis lists (kombu keeps one list per priority
step, all under the `global_keyprefix`), worker facts from Celery's remote-control inspect
with a short timeout, failures from the job history. Every part degrades on its own: a
broker that does not answer makes the report `offline`, never a 500.
"""

from __future__ import annotations

import logging
from collections import Counter
from datetime import timedelta
from typing import Any

import redis
from celery import current_app
from django.conf import settings
from django.db import DatabaseError
from django.db.models import Count
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework.permissions import BasePermission
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from core.permissions import StaffGroupPermission
from jobs.beat import beat_status
from jobs.control import kill_switch_get, queues_held
from jobs.queues import declared_queues, queue_lengths, queue_of_task

logger = logging.getLogger(__name__)


def inspect_timeout() -> float:
    return float(getattr(settings, "QUEUES_INSPECT_TIMEOUT_SECONDS", 1.0))


FAILED_WINDOW = timedelta(hours=24)


def inspect_workers() -> dict[str, dict[str, Any]]:
    """{worker: {ping, active, reserved, scheduled, active_queues}} from remote control.

    Health and alerts know workers from their heartbeats (jobs.heartbeat) and never ping. This
    page may: an operator asks for it, once, and wants what each worker holds right now, which
    only the worker itself can say; the short timeout is the price of that question.
    """
    inspect = current_app.control.inspect(timeout=inspect_timeout())
    ping = inspect.ping() or {}
    if not ping:
        return {}
    # Ask only the workers that answered: each call then returns as soon as they all reply.
    inspect = current_app.control.inspect(destination=list(ping), timeout=inspect_timeout())
    replies: dict[str, dict[str, Any]] = {
        "active": inspect.active() or {},
        "reserved": inspect.reserved() or {},
        "scheduled": inspect.scheduled() or {},
        "active_queues": inspect.active_queues() or {},
    }
    return {name: {"ping": ping[name], **{kind: replies[kind].get(name) for kind in replies}} for name in ping}


def _routing_queue(task: dict[str, Any]) -> str:
    info = task.get("delivery_info") or {}
    return str(info.get("routing_key") or info.get("queue") or "")


def _task_of_scheduled(entry: dict[str, Any]) -> dict[str, Any]:
    return entry.get("request") or {}


def vault_status() -> dict[str, Any]:
    """Token encryption keys present, the primary one valid, and one stored token decrypting."""
    from cryptography.fernet import Fernet

    from core.crypto import InvalidToken, decrypt, encrypt

    keys = list(settings.TOKEN_ENCRYPTION_KEYS)
    status: dict[str, Any] = {"keys_configured": len(keys), "primary_key_ok": False, "decrypts_sample": None, "sample": None}
    if keys:
        try:
            Fernet(keys[0].encode())
            status["primary_key_ok"] = decrypt(encrypt("vault-probe")) == "vault-probe"
        except (ValueError, InvalidToken) as exc:
            status["error"] = f"primary key unusable: {type(exc).__name__}"
    try:
        from accounts.models import SpotifyAccount

        # Loading the row decrypts the field: a wrong key raises here, not at Spotify.
        account = SpotifyAccount.objects.exclude(refresh_token="").only("pk", "refresh_token").first()
        if account is not None:
            status["decrypts_sample"] = bool(account.refresh_token)
            status["sample"] = f"account:{account.pk}"
    except InvalidToken:
        status["decrypts_sample"] = False
        status["error"] = "a stored token does not decrypt with any configured key"
    except RuntimeError as exc:  # no keys at all
        status["decrypts_sample"] = False
        status["error"] = str(exc)
    status["healthy"] = bool(status["primary_key_ok"] and status["decrypts_sample"] is not False)
    return status


def scheduler_status() -> dict[str, Any]:
    from django_celery_beat.models import PeriodicTask

    enabled = PeriodicTask.objects.filter(enabled=True).count()
    try:
        beat = beat_status()
    except redis.RedisError as exc:
        beat = {"healthy": False, "last_beat_tick": None, "age_s": None, "source": f"error: {type(exc).__name__}"}
    return {
        "scheduled_jobs": enabled,
        "total_jobs": PeriodicTask.objects.count(),
        "last_beat_tick": beat["last_beat_tick"].isoformat() if beat["last_beat_tick"] else None,
        "beat_age_s": beat["age_s"],
        "heartbeat_source": beat["source"],
        "healthy": bool(beat["healthy"] and enabled > 0),
    }


def failed_recent(*, since: Any) -> Counter[str]:
    """Failed runs per queue since `since`, from the job history (written for every task): counted
    per task in SQL, a row per task name rather than per failed run."""
    from jobs.models import JobRun

    counts: Counter[str] = Counter()
    per_task = (
        JobRun.objects.filter(status=JobRun.Status.FAILED, finished_at__gte=since)
        .values_list("task_name")
        .annotate(n=Count("pk"))
        .order_by()
    )
    for task_name, n in per_task:
        counts[queue_of_task(task_name)] += n
    return counts


def queues_report() -> dict[str, Any]:
    now = timezone.now()
    warnings: list[str] = []
    broker_ok = True
    try:
        workers_raw = inspect_workers()
    except Exception as exc:  # broker down: kombu raises OperationalError / OSError
        logger.warning("queue triage: inspect failed: %s", type(exc).__name__)
        workers_raw, broker_ok = {}, False
        warnings.append("broker_unreachable")

    names = set(declared_queues())
    for reply in workers_raw.values():
        names.update(q["name"] for q in reply.get("active_queues") or [])
    queue_names = sorted(names)

    sizes: dict[str, int | None] = dict.fromkeys(queue_names)
    if broker_ok:
        try:
            sizes.update(queue_lengths(queue_names))
        except redis.RedisError as exc:
            logger.warning("queue triage: queue lengths failed: %s", type(exc).__name__)
            broker_ok = False
            warnings.append("broker_unreachable")

    per_queue: dict[str, Counter[str]] = {name: Counter() for name in queue_names}
    workers: list[dict[str, Any]] = []
    consumed: set[str] = set()
    for name, reply in sorted(workers_raw.items()):
        active = reply.get("active") or []
        reserved = reply.get("reserved") or []
        scheduled = [_task_of_scheduled(entry) for entry in reply.get("scheduled") or []]
        queues = sorted(q["name"] for q in reply.get("active_queues") or [])
        consumed.update(queues)
        for kind, tasks in (("started", active), ("reserved", reserved), ("deferred", scheduled)):
            for task in tasks:
                queue = _routing_queue(task) or (queues[0] if queues else "unknown")
                per_queue.setdefault(queue, Counter())[kind] += 1
        current = [str(task.get("id")) for task in active]
        workers.append(
            {
                "name": name,
                "state": "busy" if active else "idle",
                "queues": queues,
                "current_task_ids": current,
                "current_job_id": current[0] if current else None,
                "reserved": len(reserved),
                "scheduled": len(scheduled),
            }
        )

    try:
        failed = failed_recent(since=now - FAILED_WINDOW)
    except Exception as exc:
        logger.warning("queue triage: failed counts unavailable: %s", type(exc).__name__)
        failed = Counter()
        warnings.append("job_history_unavailable")

    try:
        # Paused on their own or all of them under the kill switch: no worker takes from them.
        paused = queues_held()
    except (redis.RedisError, DatabaseError):
        paused = set()
    try:
        if kill_switch_get().engaged:
            warnings.append("kill_switch_engaged")
    except DatabaseError:
        warnings.append("kill_switch_unknown")
    queues = []
    for name in queue_names:
        counts = per_queue.get(name, Counter())
        queues.append(
            {
                "name": name,
                "size": sizes.get(name),
                "deferred": counts["deferred"],
                "reserved": counts["reserved"],
                "scheduled": counts["deferred"] + counts["reserved"],
                "started": counts["started"],
                "failed": failed.get(name, 0),
                "consumers": sum(1 for w in workers if name in w["queues"]),
                "paused": name in paused,
            }
        )
        if name in paused:
            warnings.append(f"queue_paused:{name}")
        elif workers and name not in consumed:
            warnings.append(f"queue_without_worker:{name}")

    try:
        scheduler = scheduler_status()
    except Exception as exc:
        logger.warning("queue triage: scheduler status unavailable: %s", type(exc).__name__)
        scheduler = {"scheduled_jobs": None, "last_beat_tick": None, "healthy": False, "error": type(exc).__name__}
    try:
        vault = vault_status()
    except Exception as exc:
        logger.warning("queue triage: vault status unavailable: %s", type(exc).__name__)
        vault = {"keys_configured": len(settings.TOKEN_ENCRYPTION_KEYS), "healthy": False, "error": type(exc).__name__}

    if not workers:
        warnings.append("no_workers")
    if not scheduler["healthy"]:
        warnings.append("scheduler_unreachable")
    if scheduler.get("scheduled_jobs") == 0:
        warnings.append("no_scheduled_jobs")
    if not vault.get("healthy"):
        warnings.append("vault_unhealthy")

    if not broker_ok or (not workers and not scheduler["healthy"]):
        status = "offline"
    elif not workers or not scheduler["healthy"] or not vault.get("healthy"):
        status = "degraded"
    else:
        status = "online"
    return {
        "status": status,
        "queues": queues,
        "failed_window_hours": int(FAILED_WINDOW.total_seconds() // 3600),
        "workers": workers,
        "scheduler": scheduler,
        "warnings": warnings,
        "checked_at": now.isoformat(),
        "vault": vault,
    }


class OpsAdminPermission(BasePermission):
    """Staff who may read (StaffGroupPermission); when OPS_ADMIN_EMAILS is set, only those addresses."""

    message = "Queue triage is limited to the addresses in OPS_ADMIN_EMAILS."

    def has_permission(self, request: Any, view: Any) -> bool:
        allowed = settings.OPS_ADMIN_EMAILS
        if not allowed:
            return True
        email = (getattr(request.user, "email", "") or "").strip().lower()
        return bool(email) and email in allowed


class QueuesView(APIView):
    permission_classes = [StaffGroupPermission, OpsAdminPermission]

    @extend_schema(
        operation_id="ops_queues",
        summary="Queue triage: queues, workers, scheduler, vault",
        responses={200: OpenApiTypes.OBJECT},
        tags=["ops"],
    )
    def get(self, request: Request) -> Response:
        return Response(queues_report())


queues_view = QueuesView.as_view()
