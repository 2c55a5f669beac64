"""Bulk queueing for the admin and API doors: one job per playlist, skips recorded."""

from __future__ import annotations

from typing import Any

from django.db import transaction

from audit.services import audit_record
from core.actors import is_operator
from jobs.models import JobRun
from jobs.services import job_enqueue, job_enqueue_many
from playlists.models import Playlist
from playlists.services.common import playlist_subject
from playlists.services.scheduling import playlists_skip_unschedulable


def _queue_per_item(
    *, task_name: str, playlists: list[Playlist], kwargs_list: list[dict[str, Any]], trigger: str, actor: str
) -> list[str]:
    runs = job_enqueue_many(
        task_name, trigger=trigger, triggered_by=actor, kwargs_list=kwargs_list, subjects=[playlist_subject(p) for p in playlists]
    )
    return [run.task_id for run in runs]


def _audit_playlists(*, actor: str, action: str, playlists: list[Playlist], result: dict[str, Any]) -> None:
    """One row per operator action: a single playlist is named, a bulk one counted (ids in details)."""
    if not is_operator(actor):
        return
    details = {"queued": result["queued"], "skipped": result["skipped"], "playlists": [str(p.pk) for p in playlists[:200]]}
    if len(playlists) == 1:
        audit_record(actor=actor, action=action, target=playlists[0], details=details)
    else:
        audit_record(
            actor=actor, action=action, target_type="playlist", target_repr=f"{len(playlists)} playlists", details=details
        )


def playlists_queue_reshuffle(*, playlists: list[Playlist], actor: str, trigger: str) -> dict[str, Any]:
    """Queue one reshuffle task per playlist (JobRun rows, published on commit); skips recorded."""
    keep = playlists_skip_unschedulable(playlists=playlists, actor=actor, operation="reshuffle")
    task_ids = _queue_per_item(
        task_name="playlist_reshuffle_one",
        playlists=keep,
        trigger=trigger,
        actor=actor,
        kwargs_list=[{"playlist_id": str(p.pk), "actor": actor} for p in keep],
    )
    result = {"queued": len(task_ids), "skipped": len(playlists) - len(keep), "task_ids": task_ids}
    _audit_playlists(actor=actor, action="playlist.reshuffle", playlists=playlists, result=result)
    return result


def playlists_queue_sync(*, playlists: list[Playlist], actor: str, trigger: str, verify: bool = True) -> dict[str, Any]:
    keep = playlists_skip_unschedulable(playlists=playlists, actor=actor, operation="sync")
    task_ids = _queue_per_item(
        task_name="playlist_sync_one",
        playlists=keep,
        trigger=trigger,
        actor=actor,
        kwargs_list=[{"playlist_id": str(p.pk), "actor": actor, "verify": verify} for p in keep],
    )
    result = {"queued": len(task_ids), "skipped": len(playlists) - len(keep), "task_ids": task_ids}
    _audit_playlists(actor=actor, action="playlist.sync", playlists=playlists, result=result)
    return result


@transaction.atomic
def playlists_queue_scale(*, actor: str, trigger: str) -> JobRun:
    """Queue the daily scaling job now (it carries out the plan the dry run shows); audited."""
    run = job_enqueue("scale_playlists_daily", trigger=trigger, triggered_by=actor, kwargs={"dry_run": False, "actor": actor})
    audit_record(
        actor=actor,
        action="playlists.scale",
        target_type="periodic task",
        target_id="scale_playlists_daily",
        target_repr="scale_playlists_daily",
        details={"task_id": run.task_id},
    )
    return run
