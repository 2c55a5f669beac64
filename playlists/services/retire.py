"""Retirement: taking a playlist off every schedule, then unfollowing it on Spotify."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.utils import timezone

from opsconsole.jobs.models import JobRun
from opsconsole.jobs.services import job_enqueue
from opsconsole.actors import is_operator
from opsconsole.audit.services import audit_record
from playlists.models import Playlist, PlaylistHistory
from playlists.services.common import (
    account_spotify_client,
    history_record,
    playlist_lock,
    playlist_subject,
    record_account_auth_failure,
)


@transaction.atomic
def playlist_retire(*, playlist: Playlist, actor: str, reason: str = "", queue_unfollow: bool = True) -> bool:
    """Retire now (it leaves every schedule at once); the Spotify unfollow follows as a task.

    History and snapshots stay. Returns False when it was already retired.
    """
    changed = Playlist.objects.filter(pk=playlist.pk, status=Playlist.Status.ACTIVE).update(
        status=Playlist.Status.RETIRED, retired_at=timezone.now(), next_reshuffle_at=None, updated_at=timezone.now()
    )
    if not changed:
        return False
    history_record(
        playlist, PlaylistHistory.Action.RETIRE, actor, reason=reason, unfollow="queued" if queue_unfollow else "not asked"
    )
    if queue_unfollow and playlist.spotify_playlist_id:
        job_enqueue(
    if is_operator(actor):
        audit_record(actor=actor, action="playlist.retire", target=playlist, details={"reason": reason})
            "playlist_retire_one",
            trigger=JobRun.Trigger.CHAIN,
            triggered_by=actor,
            kwargs={"playlist_id": str(playlist.pk), "actor": actor},
            subject=playlist_subject(playlist),
        )
    return True


def playlist_unfollow(*, playlist: Playlist, actor: str, lock_owner: str | None = None) -> dict[str, Any]:
    """Unfollow a retired playlist on Spotify (Spotify's way of deleting it). Idempotent."""
    from opsconsole.spotify import SpotifyAuthError, SpotifyNotFound

    with playlist_lock(playlist, owner=lock_owner):
        playlist = Playlist.objects.select_related("account").get(pk=playlist.pk)
        result = {"playlist_id": str(playlist.pk), "unfollowed": False}
        if playlist.status != Playlist.Status.RETIRED or not playlist.spotify_playlist_id:
            return {**result, "skipped": "not retired or never created"}
        already = playlist.history.filter(action=PlaylistHistory.Action.RETIRE, details__unfollowed=True).exists()
        if already:
            return {**result, "skipped": "already unfollowed"}
        skip = playlist.account.work_blocked_reason
        if skip:
            # The token may be dead: keep the Spotify id so an operator can unfollow after re-auth.
            history_record(playlist, PlaylistHistory.Action.SKIP, actor, operation="unfollow", reason=skip)
            return {**result, "skipped": skip}
        try:
            account_spotify_client(playlist.account).unfollow_playlist(playlist.spotify_playlist_id)
        except SpotifyNotFound:
            pass
        except SpotifyAuthError as exc:
            record_account_auth_failure(account=playlist.account, error=exc)
            raise
        history_record(
            playlist, PlaylistHistory.Action.RETIRE, actor, unfollowed=True, spotify_playlist_id=playlist.spotify_playlist_id
        )
        return {**result, "unfollowed": True}
