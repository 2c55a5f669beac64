"""Bulk queueing for the admin and API doors: one job per playlist, skips recorded."""

from __future__ import annotations

from typing import Any

from opsconsole.jobs.services import job_enqueue_many
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
    return {"queued": len(task_ids), "skipped": len(playlists) - len(keep), "task_ids": task_ids}


def playlists_queue_sync(*, playlists: list[Playlist], actor: str, trigger: str, verify: bool = True) -> dict[str, Any]:
    keep = playlists_skip_unschedulable(playlists=playlists, actor=actor, operation="sync")
    task_ids = _queue_per_item(
        task_name="playlist_sync_one",
        playlists=keep,
        trigger=trigger,
        actor=actor,
        kwargs_list=[{"playlist_id": str(p.pk), "actor": actor, "verify": verify} for p in keep],
    )
    return {"queued": len(task_ids), "skipped": len(playlists) - len(keep), "task_ids": task_ids}
