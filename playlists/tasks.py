"""Thin Celery tasks: take ids, call one service. Scheduled jobs fan out per-item tasks.

Transient trouble (lock held, 429, 5xx, open circuit) retries with a countdown; everything else
fails the task so its JobRun shows the error. The source system reshuffled synchronously
inside the HTTP request; here every door queues these tasks instead.
"""

from __future__ import annotations

import uuid
from typing import Any

from celery import shared_task
from celery.exceptions import Retry

from core.locks import LockBusy
from jobs.countdown import countdown_capped, countdown_fits
from jobs.models import JobRun
from jobs.services import job_enqueue_many
from playlists import selectors, services
from playlists.models import Playlist
from spotify.retry import error_wait_seconds

SNAPSHOT_CHUNK = 100
# Per-item tasks retry transient trouble for a while, then fail visibly.
MAX_RETRIES = 8


def _retry_countdown(exc: BaseException, retries: int) -> float | None:
    """Seconds to wait before retrying `exc`, or None when it must not be retried."""
    from spotify import CircuitOpen, SpotifyRateLimited, SpotifyServerError

    if not isinstance(exc, (SpotifyRateLimited, CircuitOpen, SpotifyServerError, LockBusy)):
        return None
    return error_wait_seconds(exc, attempts=retries + 1, base=30.0, ceiling=900.0, jitter=True)


def _run_with_retry(task: Any, call: Any, *, park: tuple[Playlist, str, str] | None = None) -> Any:
    """Run `call`; transient trouble retries with a countdown, never one past the broker's
    visibility timeout: a longer wait (an hours-long Retry-After) parks `park` = (playlist,
    work, actor) in the database for resume_parked_playlists instead."""
    try:
        return call()
    except Retry:
        raise
    except Exception as exc:
        countdown = _retry_countdown(exc, task.request.retries)
        if countdown is None:
            raise
        if park is not None and not countdown_fits(countdown):
            playlist, work, actor = park
            return services.playlist_park(playlist=playlist, work=work, seconds=countdown, reason=str(exc), actor=actor)
        raise task.retry(exc=exc, countdown=countdown_capped(countdown), max_retries=MAX_RETRIES) from exc


def _playlist(playlist_id: str) -> Playlist | None:
    return Playlist.objects.filter(pk=playlist_id).first()


@shared_task(name="build_playlist_snapshot", acks_late=True)
def build_playlist_snapshot(
    playlist_id: str | None = None, playlist_ids: list[str] | None = None, seed: int | None = None, actor: str = "schedule"
) -> dict[str, Any]:
    """One playlist, a chunk, or (no arguments: the 04:00 job) every playlist that needs one."""
    if playlist_id is None and playlist_ids is None:
        ids = [
            str(pk)
            for pk in selectors.playlists_in_health_order(selectors.playlists_needing_snapshot()).values_list("pk", flat=True)
        ]
        chunks = [ids[i : i + SNAPSHOT_CHUNK] for i in range(0, len(ids), SNAPSHOT_CHUNK)]
        job_enqueue_many(
            "build_playlist_snapshot",
            trigger=JobRun.Trigger.CHAIN,
            triggered_by="build_playlist_snapshot",
            kwargs_list=[{"playlist_ids": chunk, "actor": actor} for chunk in chunks],
        )
        return {"playlists": len(ids), "chunks_queued": len(chunks)}
    if playlist_id is not None:
        playlist = _playlist(playlist_id)
        if playlist is None or playlist.status != Playlist.Status.ACTIVE:
            return {"built": 0, "short": [], "failed": [], "skipped": 1}
        snapshot = services.playlist_build_snapshot(playlist=playlist, seed=seed, actor=actor)
        short_by = snapshot.notes.get("short_by", 0)
        return {
            "built": 1,
            "snapshot_id": snapshot.pk,
            "track_count": snapshot.track_count,
            "short_by": short_by,
            "reason": snapshot.notes.get("reason", ""),
        }
    return services.playlists_build_snapshots(playlist_ids=list(playlist_ids or []), actor=actor)


@shared_task(name="ensure_playlist_for_account", acks_late=True)
def ensure_playlist_for_account(account_id: str | None = None, actor: str = "schedule") -> dict[str, Any]:
    """Queue a sync for every playlist (of one account, or all) that is not in sync; healthy first."""
    queryset = selectors.playlists_needing_sync()
    if account_id:
        queryset = queryset.filter(account_id=uuid.UUID(account_id))
    rows = list(selectors.playlists_in_health_order(queryset).values_list("pk", "account_id"))
    job_enqueue_many(
        "playlist_sync_one",
        trigger=JobRun.Trigger.CHAIN,
        triggered_by="ensure_playlist_for_account",
        kwargs_list=[{"playlist_id": str(pk), "actor": actor} for pk, _ in rows],
        subjects=[{"playlist": str(pk), "account": str(account_pk)} for pk, account_pk in rows],
    )
    return {"queued": len(rows)}


@shared_task(name="reshuffle_due_playlists", acks_late=True)
def reshuffle_due_playlists(actor: str = "schedule") -> dict[str, Any]:
    selection = services.playlists_reshuffle_due(actor=actor)
    job_enqueue_many(
        "playlist_reshuffle_one",
        trigger=JobRun.Trigger.CHAIN,
        triggered_by="reshuffle_due_playlists",
        kwargs_list=[{"playlist_id": pk, "actor": actor, "only_if_due": True} for pk in selection["playlist_ids"]],
        subjects=[{"playlist": pk} for pk in selection["playlist_ids"]],
    )
    return {"due": selection["due"], "skipped": selection["skipped"], "queued": len(selection["playlist_ids"])}


@shared_task(bind=True, name="verify_playlists", acks_late=True)
def verify_playlists(self: Any, actor: str = "schedule") -> dict[str, Any]:
    """Every 6 hours: one call per playlist; drift repaired (docs/runbooks/drift-repair.md)."""
    # Its task id owns each playlist lock it takes: a terminated run's lock is freed (playlists/apps.py).
    return services.playlists_verify(actor=actor, lock_owner=self.request.id)


@shared_task(name="resume_parked_playlists", acks_late=True)
def resume_parked_playlists(actor: str = "schedule") -> dict[str, Any]:
    return services.playlists_resume_parked(actor=actor)


@shared_task(bind=True, name="scale_playlists_daily", acks_late=True, max_retries=MAX_RETRIES)
def scale_playlists_daily(self: Any, dry_run: bool = False, actor: str = "schedule") -> dict[str, Any]:
    # The schedule's scale and an operator's (after a capacity change) at once: the second one
    # goes after the first instead of failing on its lock (found by the chaos soak).
    return _run_with_retry(self, lambda: services.playlists_scale_daily(dry_run=dry_run, actor=actor))  # type: ignore[no-any-return]


@shared_task(bind=True, name="playlist_sync_one", acks_late=True, max_retries=MAX_RETRIES)
def playlist_sync_one(self: Any, playlist_id: str, actor: str = "schedule", verify: bool = False) -> dict[str, Any]:
    playlist = _playlist(playlist_id)
    if playlist is None:
        return {"playlist_id": playlist_id, "skipped": "not found"}
    return _run_with_retry(
        self,
        lambda: services.playlist_sync(playlist=playlist, actor=actor, verify=verify, lock_owner=self.request.id),
        park=(playlist, "sync", actor),
    )


@shared_task(bind=True, name="playlist_reshuffle_one", acks_late=True, max_retries=MAX_RETRIES)
def playlist_reshuffle_one(self: Any, playlist_id: str, actor: str = "schedule", only_if_due: bool = False) -> dict[str, Any]:
    playlist = _playlist(playlist_id)
    if playlist is None:
        return {"playlist_id": playlist_id, "skipped": "not found"}
    return _run_with_retry(
        self,
        lambda: services.playlist_reshuffle(playlist=playlist, actor=actor, only_if_due=only_if_due, lock_owner=self.request.id),
        park=(playlist, "reshuffle", actor),
    )


@shared_task(bind=True, name="playlist_retire_one", acks_late=True, max_retries=MAX_RETRIES)
def playlist_retire_one(self: Any, playlist_id: str, actor: str = "schedule") -> dict[str, Any]:
    """The Spotify side of a retirement: unfollow (the local retire already happened)."""
    playlist = _playlist(playlist_id)
    if playlist is None:
        return {"playlist_id": playlist_id, "skipped": "not found"}
    return _run_with_retry(self, lambda: services.playlist_unfollow(playlist=playlist, actor=actor, lock_owner=self.request.id))


@shared_task(bind=True, name="playlists_unfollow_batch", acks_late=True, max_retries=MAX_RETRIES)
def playlists_unfollow_batch(self: Any, playlist_ids: list[str], actor: str = "schedule") -> dict[str, Any]:
    """The Spotify side of many retirements on one account: 40 playlists per call."""
    return _run_with_retry(
        self, lambda: services.playlists_unfollow(playlist_ids=playlist_ids, actor=actor, lock_owner=self.request.id)
    )
