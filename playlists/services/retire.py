"""Retirement: taking a playlist off every schedule, then removing it from its owner's library on Spotify."""

from __future__ import annotations

from collections import defaultdict
from contextlib import ExitStack
from typing import Any

from django.db import transaction
from django.utils import timezone

from audit.services import audit_record
from core.actors import is_operator
from jobs.models import JobRun
from jobs.services import job_enqueue
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
    """Retire now (it leaves every schedule at once); the Spotify side follows as a task.

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
    if is_operator(actor):
        audit_record(actor=actor, action="playlist.retire", target=playlist, details={"reason": reason})
    if queue_unfollow and playlist.spotify_playlist_id:
        job_enqueue(
            "playlist_retire_one",
            trigger=JobRun.Trigger.CHAIN,
            triggered_by=actor,
            kwargs={"playlist_id": str(playlist.pk), "actor": actor},
            subject=playlist_subject(playlist),
        )
    return True


def playlists_queue_unfollow(*, playlists: list[Playlist], actor: str) -> int:
    """Queue the Spotify side of many retirements: one job per account, which removes its
    playlists from the owner's library 40 per call. Returns the jobs queued."""
    by_account: dict[Any, list[str]] = defaultdict(list)
    for playlist in playlists:
        if playlist.spotify_playlist_id:
            by_account[playlist.account_id].append(str(playlist.pk))
    for account_id, playlist_ids in by_account.items():
        job_enqueue(
            "playlists_unfollow_batch",
            trigger=JobRun.Trigger.CHAIN,
            triggered_by=actor,
            kwargs={"playlist_ids": playlist_ids, "actor": actor},
            subject={"account": str(account_id)},
        )
    return len(by_account)


def playlist_unfollow(*, playlist: Playlist, actor: str, lock_owner: str | None = None) -> dict[str, Any]:
    """Remove a retired playlist from its owner's library on Spotify (Spotify's way of deleting
    it). Idempotent. See `playlists_unfollow`."""
    result = playlists_unfollow(playlist_ids=[str(playlist.pk)], actor=actor, lock_owner=lock_owner)
    outcome = {"playlist_id": str(playlist.pk), "unfollowed": bool(result["unfollowed"])}
    if result["skipped"]:
        outcome["skipped"] = next(iter(result["skipped"].values()))
    return outcome


def playlists_unfollow(*, playlist_ids: list[str], actor: str, lock_owner: str | None = None) -> dict[str, Any]:
    """Remove retired playlists from their owners' libraries: `DELETE /v1/me/library?uris=...`,
    40 playlists per call and account (every app mode; the followers endpoint is refused to
    Development Mode apps). Idempotent: playlists already removed, still active or never
    created are skipped.

    Holds every playlist's lock for the call (LockBusy: retry later). A refusal (403, 400) is
    recorded on each playlist as a failed history row with Spotify's reason and raised, never
    recorded as done; transient errors (429, 5xx, open circuit) propagate for a retry.
    """
    from spotify import TRANSIENT_ERRORS, SpotifyAuthError, SpotifyError

    result: dict[str, Any] = {"unfollowed": [], "skipped": {}, "calls": 0}
    playlists = list(Playlist.objects.select_related("account").filter(pk__in=playlist_ids).order_by("account_id", "index"))
    by_account: dict[Any, list[Playlist]] = defaultdict(list)
    for playlist in playlists:
        by_account[playlist.account_id].append(playlist)
    for group in by_account.values():
        with ExitStack() as locks:
            for playlist in group:
                locks.enter_context(playlist_lock(playlist, owner=lock_owner))
            todo = _unfollow_todo(group=group, actor=actor, result=result)
            if not todo:
                continue
            account = todo[0].account
            try:
                result["calls"] += account_spotify_client(account).remove_playlists_from_library(
                    [p.spotify_playlist_id for p in todo]
                )
            except TRANSIENT_ERRORS:
                raise
            except SpotifyError as exc:
                if isinstance(exc, SpotifyAuthError):
                    record_account_auth_failure(account=account, error=exc)
                error = f"{type(exc).__name__}: {exc}"[:500]
                for playlist in todo:
                    history_record(playlist, PlaylistHistory.Action.FAIL, actor, operation="unfollow", error=error)
                raise
            for playlist in todo:
                history_record(
                    playlist,
                    PlaylistHistory.Action.RETIRE,
                    actor,
                    unfollowed=True,
                    spotify_playlist_id=playlist.spotify_playlist_id,
                )
                result["unfollowed"].append(str(playlist.pk))
    return result


def _unfollow_todo(*, group: list[Playlist], actor: str, result: dict[str, Any]) -> list[Playlist]:
    """The playlists of one account still to remove from its library; skips recorded in `result`."""
    done = set(
        PlaylistHistory.objects.filter(
            playlist__in=group, action=PlaylistHistory.Action.RETIRE, details__unfollowed=True
        ).values_list("playlist_id", flat=True)
    )
    todo = []
    for playlist in group:
        playlist.refresh_from_db(fields=["status", "spotify_playlist_id"])
        if playlist.status != Playlist.Status.RETIRED or not playlist.spotify_playlist_id:
            result["skipped"][str(playlist.pk)] = "not retired or never created"
        elif playlist.pk in done:
            result["skipped"][str(playlist.pk)] = "already unfollowed"
        else:
            todo.append(playlist)
    if todo and (reason := todo[0].account.work_blocked_reason):
        # The token may be dead: keep the Spotify ids so an operator can retry after re-auth.
        for playlist in todo:
            history_record(playlist, PlaylistHistory.Action.SKIP, actor, operation="unfollow", reason=reason)
            result["skipped"][str(playlist.pk)] = reason
        return []
    return todo
