"""Drift repair: noticing what changed on Spotify's side of a playlist, and putting it back.

One `GET /v1/playlists/{id}?fields=snapshot_id,name,description` per playlist; the items are
read only when the snapshot_id is not the one our last write got back. What a playlist's owner
removed from their library (Spotify's "delete") is found with one `GET /v1/me/library/contains`
per 40 playlists of an account. See docs/runbooks/drift-repair.md.
"""

from __future__ import annotations

import contextlib
import html
from collections import defaultdict
from typing import Any

from django.conf import settings
from django.db.models import Q
from django.utils import timezone
from redis.exceptions import RedisError

from audit.services import audit_record
from core.counters import counter_inc
from core.locks import LockBusy
from playlists import selectors
from playlists.models import Playlist, PlaylistHistory
from playlists.services.common import (
    ACTOR_SCHEDULE,
    account_spotify_client,
    history_record,
    playlist_connectors_skip,
    playlist_lock,
    playlist_locks_release_owned,
    record_account_auth_failure,
)
from playlists.services.retire import playlist_retire
from playlists.services.sync import playlist_sync_locked

VERIFY_FIELDS = "snapshot_id,name,description"


def playlists_to_verify(*, limit: int | None = None) -> list[Playlist]:
    """Active, created on Spotify, not frozen, not parked, on accounts that may be worked on;
    healthy accounts first, the longest unverified first within them."""
    now = timezone.now()
    queryset = (
        selectors.playlists_schedulable()
        .exclude(spotify_playlist_id="")
        .filter(frozen=False)
        .filter(Q(not_before__isnull=True) | Q(not_before__lte=now))
        .select_related("account", "current_snapshot")
        .annotate(health_rank=selectors.health_rank())
        .order_by("health_rank", "last_verified_at", "account_id", "index")
    )
    return list(queryset[: limit or settings.PLAYLIST_VERIFY_BATCH])


def playlists_verify(*, actor: str = ACTOR_SCHEDULE, limit: int | None = None, lock_owner: str | None = None) -> dict[str, Any]:
    """Verify up to `limit` playlists (PLAYLIST_VERIFY_BATCH) against Spotify and repair drift.

    Idempotent: an unchanged playlist costs one call and changes nothing. A 429 beyond the sleep
    ceiling stops that app's part of the run (Spotify's rate limits are per app: the other apps'
    playlists are still verified); a 5xx after the retries or an open circuit stops the run; what
    was not reached waits for the next one. An account Spotify refuses (its refresh token revoked:
    invalid_grant) is marked for re-authorization and its playlists skipped, recorded on each. A
    playlist whose lock is held (a sync or reshuffle is running) is left for the next run.
    """
    from spotify import TRANSIENT_ERRORS, SpotifyRateLimited

    summary: dict[str, Any] = {"checked": 0, "drift_found": 0, "repaired": 0, "recreated": 0, "retired": 0, "busy": 0}
    if skipped := playlist_connectors_skip(work="verify"):
        return {**summary, **skipped}
    by_account: dict[Any, list[Playlist]] = defaultdict(list)
    for playlist in playlists_to_verify(limit=limit):
        by_account[playlist.account_id].append(playlist)
    rate_limited: dict[Any, str] = {}
    try:
        for group in by_account.values():
            app_id = group[0].account.app_id
            if app_id in rate_limited:
                continue
            try:
                _verify_group(group=group, actor=actor, summary=summary, lock_owner=lock_owner)
            except SpotifyRateLimited as exc:
                # Found by the chaos soak: one app's hours-long Retry-After kept every app's playlists
                # unverified, a playlist its owner had deleted among them.
                rate_limited[app_id] = f"{type(exc).__name__}: {exc}"[:300]
            except TRANSIENT_ERRORS as exc:
                summary["stopped"] = f"{type(exc).__name__}: {exc}"[:300]
                break
    finally:
        if lock_owner:
            # A run killed holding a playlist's lock comes back under the same task id, but not
            # always to that playlist (found by the chaos soak: the lock stayed held to its TTL,
            # the playlist's syncs and reshuffles retrying): what this id still holds goes back.
            with contextlib.suppress(RedisError):
                playlist_locks_release_owned(owner=lock_owner)
    if rate_limited:
        summary["rate_limited_apps"] = {str(app_id): reason for app_id, reason in rate_limited.items()}
    return summary


def _verify_group(*, group: list[Playlist], actor: str, summary: dict[str, Any], lock_owner: str | None) -> None:
    """One account's playlists: whether each is still in its owner's library (one call), then each one."""
    from spotify import SpotifyAuthError

    account = group[0].account
    client = account_spotify_client(account)
    reached = 0
    try:
        followed = client.library_contains_playlists([p.spotify_playlist_id for p in group])
        for playlist, still_followed in zip(group, followed, strict=True):
            try:
                with playlist_lock(playlist, owner=lock_owner):
                    outcome = _verify_one(
                        client=client,
                        playlist=playlist,
                        asked_about=playlist.spotify_playlist_id,
                        followed=still_followed,
                        actor=actor,
                    )
            except LockBusy:
                summary["busy"] += 1
            else:
                summary["checked"] += 1
                for name in ("drift_found", "repaired", "recreated", "retired"):
                    summary[name] += int(outcome.get(name, 0))
            reached += 1
    except SpotifyAuthError as exc:
        # Found by the chaos soak: an owner removed our access on Spotify (invalid_grant on the
        # refresh) and the run raised, the other accounts' playlists left unverified.
        record_account_auth_failure(account=account, error=exc)
        reason = account.work_blocked_reason
        for playlist in group[reached:]:
            history_record(playlist, PlaylistHistory.Action.SKIP, actor, operation="verify", reason=reason)
        summary.setdefault("skipped_accounts", {})[str(account.pk)] = reason


def _verify_one(*, client: Any, playlist: Playlist, asked_about: str, followed: bool, actor: str) -> dict[str, Any]:
    """`followed` is Spotify's answer about `asked_about`, asked before this playlist's lock was taken."""
    from spotify import SpotifyNotFound

    playlist = Playlist.objects.select_related("account", "policy", "current_snapshot").get(pk=playlist.pk)
    if playlist.status != Playlist.Status.ACTIVE or playlist.frozen or not playlist.spotify_playlist_id:
        return {}
    if playlist.spotify_playlist_id != asked_about:
        # Recreated since the run asked (a sync found it deleted): the answer was about the old
        # playlist, and acting on it would create a second copy. The next run checks the new one.
        return {}
    try:
        on_spotify = client.get_playlist(playlist.spotify_playlist_id, fields=VERIFY_FIELDS)
    except SpotifyNotFound:
        return _deleted_on_spotify(playlist=playlist, actor=actor, how="deleted")
    if not followed:
        # Spotify still serves a playlist its owner "deleted" (removed from their library).
        return _deleted_on_spotify(playlist=playlist, actor=actor, how="unfollowed")
    differed = []
    if (on_spotify.get("name") or "") != playlist.name:
        differed.append("name")
    # Spotify answers descriptions HTML-escaped: compare the text.
    if html.unescape(on_spotify.get("description") or "") != playlist.description:
        differed.append("description")
    snapshot_id = str(on_spotify.get("snapshot_id") or "")
    expected: list[str] = []
    if snapshot_id != playlist.spotify_snapshot_id:
        expected = selectors.snapshot_track_uris(snapshot_id=playlist.current_snapshot_id) if playlist.current_snapshot_id else []
        if client.playlist_item_uris(playlist.spotify_playlist_id) != expected:
            differed.append("items")
    now = timezone.now()
    if not differed:
        Playlist.objects.filter(pk=playlist.pk).update(spotify_snapshot_id=snapshot_id, last_verified_at=now)
        return {}
    counter_inc("playlist_drift_found_total")
    if {"name", "description"} & set(differed):
        client.change_playlist_details(playlist.spotify_playlist_id, name=playlist.name, description=playlist.description)
    if "items" in differed:
        client.replace_playlist_items(playlist.spotify_playlist_id, expected)
        snapshot_id = client.last_snapshot_id or snapshot_id
    Playlist.objects.filter(pk=playlist.pk).update(spotify_snapshot_id=snapshot_id, last_verified_at=now, updated_at=now)
    history_record(
        playlist,
        PlaylistHistory.Action.DRIFT_REPAIRED,
        actor,
        differed=differed,
        found={"name": on_spotify.get("name"), "description": html.unescape(on_spotify.get("description") or "")},
        spotify_playlist_id=playlist.spotify_playlist_id,
    )
    counter_inc("playlist_drift_repaired_total")
    return {"drift_found": 1, "repaired": 1}


def _deleted_on_spotify(*, playlist: Playlist, actor: str, how: str) -> dict[str, Any]:
    """Deleted (404) or removed from its owner's library: recreated once (audited) or, by
    PLAYLIST_DELETED_ON_SPOTIFY, retired. Never a second copy: the old id is dropped and the
    new one created under the sync's own crash-safe create."""
    counter_inc("playlist_drift_found_total")
    differed = [how]
    old_id = playlist.spotify_playlist_id
    if settings.PLAYLIST_DELETED_ON_SPOTIFY == "retire":
        playlist_retire(playlist=playlist, actor=actor, reason=f"{differed[0]} on Spotify", queue_unfollow=False)
        history_record(
            playlist, PlaylistHistory.Action.DRIFT_REPAIRED, actor, differed=differed, spotify_playlist_id=old_id, retired=True
        )
        audit_record(
            actor=actor,
            action="playlist.retire",
            target=playlist,
            details={"reason": f"{differed[0]} on Spotify", "spotify_playlist_id": old_id},
        )
        counter_inc("playlist_drift_repaired_total")
        return {"drift_found": 1, "repaired": 1, "retired": 1}
    Playlist.objects.filter(pk=playlist.pk).update(spotify_playlist_id="", spotify_create_started_at=None, spotify_snapshot_id="")
    result = playlist_sync_locked(playlist_id=playlist.pk, actor=actor, verify=False)
    playlist.refresh_from_db()
    history_record(
        playlist,
        PlaylistHistory.Action.DRIFT_REPAIRED,
        actor,
        differed=differed,
        spotify_playlist_id=old_id,
        recreated_as=playlist.spotify_playlist_id,
    )
    audit_record(
        actor=actor,
        action="playlist.recreate",
        target=playlist,
        details={
            "reason": f"{differed[0]} on Spotify",
            "spotify_playlist_id": old_id,
            "recreated_as": playlist.spotify_playlist_id,
        },
    )
    Playlist.objects.filter(pk=playlist.pk).update(last_verified_at=timezone.now())
    counter_inc("playlist_drift_repaired_total")
    return {"drift_found": 1, "repaired": 1, "recreated": int(bool(result.get("created")))}


def playlist_set_frozen(*, playlist: Playlist, frozen: bool, actor: str) -> bool:
    """Freeze (curated by hand: no reshuffle, no drift repair; still listed, keeps its slot in
    scaling) or unfreeze. Returns False when it already was. History row and audit row."""
    changed = Playlist.objects.filter(pk=playlist.pk, frozen=not frozen).update(
        frozen=frozen, frozen_by=actor[:150] if frozen else "", updated_at=timezone.now()
    )
    if not changed:
        return False
    playlist.frozen = frozen
    history_record(playlist, PlaylistHistory.Action.FREEZE if frozen else PlaylistHistory.Action.UNFREEZE, actor)
    audit_record(actor=actor, action="playlist.freeze" if frozen else "playlist.unfreeze", target=playlist)
    return True
