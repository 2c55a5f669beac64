"""Reshuffle: a new snapshot synced, and the next reshuffle set from the policy interval."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.utils import timezone

from core.counters import counter_inc
from playlists.models import Playlist, PlaylistHistory
from playlists.services.common import history_record, playlist_connectors_skip, playlist_lock
from playlists.services.snapshots import playlist_build_snapshot
from playlists.services.sync import playlist_sync_locked


def playlist_reshuffle(
    *, playlist: Playlist, actor: str, only_if_due: bool = False, seed: int | None = None, lock_owner: str | None = None
) -> dict[str, Any]:
    """New snapshot, sync, next reshuffle from the policy interval; counted in reshuffles_total.

    A snapshot that was built but never synced is reused, so a retried reshuffle (rate limit,
    lock) does not burn a second selection. A run (`lock_owner`, its task id) delivered again after
    it had reshuffled, its process lost before the acknowledgement, returns what it did instead of
    reshuffling twice (the 60-minute soak's run 7).
    """
    with playlist_lock(playlist, owner=lock_owner):
        playlist = Playlist.objects.select_related("account", "policy", "current_snapshot").get(pk=playlist.pk)
        if lock_owner and (done := _reshuffled_by(playlist, lock_owner)):
            return done
        now = timezone.now()
        if playlist.status != Playlist.Status.ACTIVE:
            return {"playlist_id": str(playlist.pk), "skipped": "retired"}
        if playlist.frozen:
            history_record(playlist, PlaylistHistory.Action.SKIP, actor, operation="reshuffle", reason="frozen")
            return {"playlist_id": str(playlist.pk), "skipped": "frozen"}
        if only_if_due and (playlist.next_reshuffle_at is None or playlist.next_reshuffle_at > now):
            return {"playlist_id": str(playlist.pk), "skipped": "not due"}
        skip = playlist.account.work_blocked_reason
        if skip:
            history_record(playlist, PlaylistHistory.Action.SKIP, actor, operation="reshuffle", reason=skip)
            return {"playlist_id": str(playlist.pk), "skipped": skip}
        if skipped := playlist_connectors_skip(work="reshuffle"):
            # Before building a snapshot: the selection is not burned while Spotify writes are off.
            history_record(
                playlist,
                PlaylistHistory.Action.SKIP,
                actor,
                operation="reshuffle",
                reason="disabled",
                connectors=skipped["disabled_connectors"],
            )
            return {"playlist_id": str(playlist.pk), **skipped}
        snapshot = playlist.current_snapshot
        if snapshot is None or snapshot.synced_at is not None or seed is not None:
            snapshot = playlist_build_snapshot(playlist=playlist, seed=seed, actor=actor)
        result = playlist_sync_locked(playlist_id=playlist.pk, actor=actor, verify=False)
        next_at = timezone.now() + timedelta(days=playlist.policy.reshuffle_interval_days)
        Playlist.objects.filter(pk=playlist.pk).update(next_reshuffle_at=next_at)
        history_record(
            playlist,
            PlaylistHistory.Action.RESHUFFLE,
            actor,
            snapshot_id=snapshot.pk,
            track_count=snapshot.track_count,
            next_reshuffle_at=next_at.isoformat(),
            run=lock_owner or "",
        )
        counter_inc("reshuffles_total")
        return {**result, "reshuffled": True, "snapshot_id": snapshot.pk, "next_reshuffle_at": next_at.isoformat()}


def _reshuffled_by(playlist: Playlist, run: str) -> dict[str, Any] | None:
    details = (
        PlaylistHistory.objects.filter(playlist=playlist, action=PlaylistHistory.Action.RESHUFFLE, details__run=run)
        .values_list("details", flat=True)
        .first()
    )
    if details is None:
        return None
    return {
        "playlist_id": str(playlist.pk),
        "reshuffled": True,
        "snapshot_id": details["snapshot_id"],
        "next_reshuffle_at": details["next_reshuffle_at"],
        "done_before": "this run reshuffled it before it was delivered again",
    }
