"""Bulk queueing for the admin and API doors: one job per playlist, skips recorded."""

from __future__ import annotations

from typing import Any

from playlists.models import Playlist
from playlists.services.scheduling import playlists_skip_unschedulable


def _queue_per_item(*, task_name: str, kwargs_list: list[dict[str, Any]], trigger: str, actor: str) -> list[str]:
    from metrics.services import job_runs_queue

    return [
        run.task_id for run in job_runs_queue(task_name=task_name, trigger=trigger, triggered_by=actor, kwargs_list=kwargs_list)
    ]


def playlists_queue_reshuffle(*, playlists: list[Playlist], actor: str, trigger: str) -> dict[str, Any]:
    """Queue one reshuffle task per playlist (JobRun rows, published on commit); skips recorded."""
    keep = playlists_skip_unschedulable(playlists=playlists, actor=actor, operation="reshuffle")
    task_ids = _queue_per_item(
        task_name="playlist_reshuffle_one",
        trigger=trigger,
        actor=actor,
        kwargs_list=[{"playlist_id": str(p.pk), "actor": actor} for p in keep],
    )
    return {"queued": len(task_ids), "skipped": len(playlists) - len(keep), "task_ids": task_ids}


def playlists_queue_sync(*, playlists: list[Playlist], actor: str, trigger: str, verify: bool = True) -> dict[str, Any]:
    keep = playlists_skip_unschedulable(playlists=playlists, actor=actor, operation="sync")
    task_ids = _queue_per_item(
        task_name="playlist_sync_one",
        trigger=trigger,
        actor=actor,
        kwargs_list=[{"playlist_id": str(p.pk), "actor": actor, "verify": verify} for p in keep],
    )
    return {"queued": len(task_ids), "skipped": len(playlists) - len(keep), "task_ids": task_ids}
