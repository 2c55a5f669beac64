"""Parking: playlist work Spotify asked to wait for longer than a Celery countdown may last.

A countdown task waits in a worker's memory, unacknowledged; Redis hands it out again every
visibility timeout (jobs.countdown). Such work waits in the database instead
(`Playlist.not_before`, `parked_work`) and resume_parked_playlists queues it once due, each
playlist once: the claim is a conditional UPDATE. See docs/spotify.md, "Parking".
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.db import transaction
from django.utils import timezone

from jobs.models import JobRun
from jobs.services import job_enqueue_many
from playlists.models import Playlist, PlaylistHistory
from playlists.services.common import ACTOR_SCHEDULE, history_record, playlist_subject

# parked_work → the job that does it again.
PARKED_JOBS = {"sync": "playlist_sync_one", "reshuffle": "playlist_reshuffle_one"}


def playlist_park(*, playlist: Playlist, work: str, seconds: float, reason: str, actor: str) -> dict[str, Any]:
    """Park `work` ("sync" or "reshuffle") on this playlist for `seconds` (from
    spotify.retry.error_wait_seconds)."""
    if work not in PARKED_JOBS:
        raise ValueError(f"work is one of {', '.join(PARKED_JOBS)}")
    until = timezone.now() + timedelta(seconds=seconds)
    Playlist.objects.filter(pk=playlist.pk).update(
        not_before=until, parked_work=work, sync_error=f"parked until {until.isoformat()}: {reason}"[:2000]
    )
    history_record(playlist, PlaylistHistory.Action.PARK, actor, operation=work, until=until.isoformat(), reason=reason[:300])
    return {"playlist_id": str(playlist.pk), "parked": work, "not_before": until.isoformat()}


@transaction.atomic
def playlists_resume_parked(*, actor: str = ACTOR_SCHEDULE, limit: int = 5000) -> dict[str, Any]:
    """Queue the parked work that is due, healthy accounts first; each playlist claimed once."""
    now = timezone.now()
    due = list(
        Playlist.objects.filter(not_before__lte=now, status=Playlist.Status.ACTIVE)
        .exclude(parked_work="")
        .order_by("not_before")
        .values_list("pk", "account_id", "parked_work")[:limit]
    )
    queued: dict[str, list[tuple[Any, Any]]] = {name: [] for name in PARKED_JOBS}
    for pk, account_id, work in due:
        claimed = Playlist.objects.filter(pk=pk, not_before__lte=now, parked_work=work).update(not_before=None, parked_work="")
        if claimed and work in PARKED_JOBS:
            queued[work].append((pk, account_id))
    for work, rows in queued.items():
        job_enqueue_many(
            PARKED_JOBS[work],
            trigger=JobRun.Trigger.CHAIN,
            triggered_by="resume_parked_playlists",
            kwargs_list=[{"playlist_id": str(pk), "actor": actor} for pk, _ in rows],
            subjects=[playlist_subject(Playlist(pk=pk, account_id=account_id)) for pk, account_id in rows],
        )
    # Parked work of retired playlists has nothing left to do.
    Playlist.objects.filter(not_before__isnull=False).exclude(status=Playlist.Status.ACTIVE).update(
        not_before=None, parked_work=""
    )
    return {"queued": {work: len(rows) for work, rows in queued.items()}}
