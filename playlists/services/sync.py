"""Sync: making Spotify show a playlist's current snapshot, name and description."""

from __future__ import annotations

import html
import uuid
from typing import Any

from django.template import TemplateSyntaxError
from django.utils import timezone

from core.counters import counter_inc
from playlists import selectors
from playlists.models import Playlist, PlaylistHistory, PlaylistSnapshot
from playlists.services.common import (
    account_services,
    account_spotify_client,
    history_record,
    playlist_connectors_skip,
    playlist_lock,
    playlist_marker,
    record_account_auth_failure,
)
from playlists.services.rendering import playlist_render
from playlists.services.snapshots import playlist_build_snapshot

# current_user_playlists pages scanned when looking for a playlist by its marker.
MARKER_LOOKUP_MAX_PAGES = 100


def _find_by_marker(client: Any, *, marker: str, owner_id: str) -> dict[str, Any] | None:
    offset = 0
    for _ in range(MARKER_LOOKUP_MAX_PAGES):
        page = client.current_user_playlists(offset=offset, limit=50)
        items = page.get("items") or []
        for item in items:
            if not item:
                continue
            owner = (item.get("owner") or {}).get("id")
            if marker in (item.get("description") or "") and (owner is None or owner == owner_id):
                return item
        offset += len(items)
        if not items or not page.get("next") or offset >= int(page.get("total") or 0):
            return None
    return None


def playlist_create_writes(track_count: int) -> int:
    """The Spotify writes of a playlist's first sync (`_push`): the create, with its details,
    then its items if it has any (spotify.client.items_write_chunks, what the client sends)."""
    from spotify.client import items_write_chunks

    return 1 + (len(items_write_chunks(track_count)) if track_count else 0)


def playlist_sync(*, playlist: Playlist, actor: str, verify: bool = False, lock_owner: str | None = None) -> dict[str, Any]:
    """Make Spotify show this playlist's current snapshot, name and description.

    Creates the Spotify playlist when missing (never twice: a retry after a crash between
    "created" and "saved" finds it by its description marker), changes details only when they
    changed, replaces items only when the snapshot is not the one synced (`verify` compares with
    what Spotify has instead). A second run with nothing changed makes no write calls.
    Raises LockBusy when another worker syncs this playlist (`lock_owner`: the task id, so a
    redelivered task takes back the lock of its killed run); Spotify errors propagate after
    being recorded (transient ones for a retry, auth ones on the account's health).
    """
    with playlist_lock(playlist, owner=lock_owner):
        return playlist_sync_locked(playlist_id=playlist.pk, actor=actor, verify=verify)


def playlist_sync_locked(*, playlist_id: uuid.UUID, actor: str, verify: bool) -> dict[str, Any]:
    """`playlist_sync` for a caller that already holds the playlist's sync lock (reshuffle does)."""
    from spotify import TRANSIENT_ERRORS, SpotifyAuthError, SpotifyError, SpotifyNotFound

    playlist = Playlist.objects.select_related("account", "policy", "current_snapshot").get(pk=playlist_id)
    result: dict[str, Any] = {
        "playlist_id": str(playlist.pk),
        "created": False,
        "adopted": False,
        "renamed": [],
        "items_replaced": False,
        "write_calls": 0,
    }
    if playlist.status != Playlist.Status.ACTIVE:
        return {**result, "skipped": "retired"}
    skip = playlist.account.work_blocked_reason
    if skip:
        history_record(playlist, PlaylistHistory.Action.SKIP, actor, operation="sync", reason=skip)
        return {**result, "skipped": skip}
    if skipped := playlist_connectors_skip(work="sync"):
        history_record(
            playlist,
            PlaylistHistory.Action.SKIP,
            actor,
            operation="sync",
            reason="disabled",
            connectors=skipped["disabled_connectors"],
        )
        return {**result, **skipped}
    if playlist.current_snapshot is None:
        playlist_build_snapshot(playlist=playlist, actor=actor)
        playlist.refresh_from_db()
    snapshot = playlist.current_snapshot
    assert snapshot is not None
    uris = selectors.snapshot_track_uris(snapshot_id=snapshot.pk)
    try:
        name, description = playlist_render(playlist=playlist, snapshot=snapshot)
    except TemplateSyntaxError as exc:
        # A policy saved around its validation (shell, SQL): fail this playlist visibly, not the batch.
        error = f"policy {playlist.policy.name!r} has an invalid template: {exc}"
        Playlist.objects.filter(pk=playlist.pk).update(sync_state=Playlist.SyncState.FAILED, sync_error=error[:2000])
        history_record(playlist, PlaylistHistory.Action.FAIL, actor, operation="sync", error=error[:500])
        return {**result, "failed": error}
    account = playlist.account
    try:
        client = account_spotify_client(account)
        for attempt in range(2):
            try:
                _push(
                    client=client,
                    playlist=playlist,
                    snapshot=snapshot,
                    uris=uris,
                    name=name,
                    description=description,
                    actor=actor,
                    verify=verify,
                    result=result,
                )
                break
            except SpotifyNotFound:
                if attempt or not playlist.spotify_playlist_id:
                    raise
                # Deleted or unfollowed on Spotify by someone else: create it again, once.
                history_record(
                    playlist,
                    PlaylistHistory.Action.FAIL,
                    actor,
                    operation="sync",
                    error="playlist not found on Spotify; recreating",
                    spotify_playlist_id=playlist.spotify_playlist_id,
                )
                playlist.spotify_playlist_id = ""
                playlist.spotify_create_started_at = None
                playlist.save(update_fields=["spotify_playlist_id", "spotify_create_started_at", "updated_at"])
    except TRANSIENT_ERRORS as exc:
        Playlist.objects.filter(pk=playlist.pk).update(sync_error=f"retrying: {exc}"[:2000], updated_at=timezone.now())
        raise
    except SpotifyError as exc:
        if isinstance(exc, SpotifyAuthError):
            record_account_auth_failure(account=account, error=exc)
        else:
            # A 4xx on the account's own playlist is evidence about the account; 5xx were transient.
            account_services().account_record_failure(account=account, error=f"{type(exc).__name__}: {exc}")
        Playlist.objects.filter(pk=playlist.pk).update(
            sync_state=Playlist.SyncState.FAILED, sync_error=f"{type(exc).__name__}: {exc}"[:2000], updated_at=timezone.now()
        )
        history_record(playlist, PlaylistHistory.Action.FAIL, actor, operation="sync", error=f"{type(exc).__name__}: {exc}"[:500])
        raise
    if result["write_calls"] or result["adopted"] or verify:
        # Spotify answered this account's calls: evidence that clears a failure streak.
        account_services().account_record_success(account=account)
    now = timezone.now()
    if snapshot.synced_at is None:
        PlaylistSnapshot.objects.filter(pk=snapshot.pk).update(synced_at=now)
    Playlist.objects.filter(pk=playlist.pk).update(
        sync_state=Playlist.SyncState.SYNCED, sync_error="", last_synced_at=now, updated_at=now
    )
    if result["write_calls"] or result["adopted"]:
        history_record(
            playlist,
            PlaylistHistory.Action.SYNC,
            actor,
            snapshot_id=snapshot.pk,
            tracks=len(uris),
            **{k: v for k, v in result.items() if k != "playlist_id"},
        )
    return result


def _push(
    *,
    client: Any,
    playlist: Playlist,
    snapshot: PlaylistSnapshot,
    uris: list[str],
    name: str,
    description: str,
    actor: str,
    verify: bool,
    result: dict[str, Any],
) -> None:
    on_spotify: dict[str, Any] | None = None
    created = False
    if not playlist.spotify_playlist_id:
        if playlist.spotify_create_started_at is not None:
            on_spotify = _find_by_marker(client, marker=playlist_marker(playlist.pk), owner_id=playlist.account.spotify_user_id)
        if on_spotify is not None:
            playlist.spotify_playlist_id = on_spotify["id"]
            playlist.save(update_fields=["spotify_playlist_id", "updated_at"])
            result["adopted"] = True
            history_record(
                playlist,
                PlaylistHistory.Action.CREATE,
                actor,
                spotify_playlist_id=on_spotify["id"],
                adopted=True,
                note="found by its marker after an interrupted create",
            )
        else:
            # Committed before the call: if we die after Spotify created it, the retry looks first.
            playlist.spotify_create_started_at = timezone.now()
            playlist.save(update_fields=["spotify_create_started_at", "updated_at"])
            created_playlist = client.create_playlist(name=name, description=description, public=False)
            result["write_calls"] += 1
            playlist.spotify_playlist_id = created_playlist["id"]
            playlist.name, playlist.description = name, description
            playlist.save(update_fields=["spotify_playlist_id", "name", "description", "updated_at"])
            created = result["created"] = True
            counter_inc("playlists_created_total")
            history_record(playlist, PlaylistHistory.Action.CREATE, actor, spotify_playlist_id=created_playlist["id"], name=name)
    spotify_id = playlist.spotify_playlist_id
    if verify and on_spotify is None and not created:
        on_spotify = client.get_playlist(spotify_id)
    if not created:
        current_name = on_spotify.get("name", "") if on_spotify is not None else playlist.name
        # Spotify answers descriptions HTML-escaped ("&#x27;"): compare the text, not its encoding.
        current_description = (
            html.unescape(on_spotify.get("description") or "") if on_spotify is not None else playlist.description
        )
        changes = {}
        if name != current_name:
            changes["name"] = name
        if description != (current_description or ""):
            changes["description"] = description
        if changes:
            client.change_playlist_details(spotify_id, **changes)
            result["write_calls"] += 1
            result["renamed"] = sorted(changes)
            history_record(
                playlist,
                PlaylistHistory.Action.RENAME,
                actor,
                name_from=current_name,
                name=name,
                description_from=current_description,
                description=description,
            )
        if (playlist.name, playlist.description) != (name, description):
            playlist.name, playlist.description = name, description
            playlist.save(update_fields=["name", "description", "updated_at"])
    if created:
        replace = bool(uris)
    elif on_spotify is not None:
        replace = client.playlist_item_uris(spotify_id) != uris
    else:
        replace = snapshot.synced_at is None
    if replace:
        result["write_calls"] += client.replace_playlist_items(spotify_id, uris)
        result["items_replaced"] = True
    if (created or replace) and client.last_snapshot_id:
        # What verify_playlists compares Spotify's side with.
        playlist.spotify_snapshot_id = client.last_snapshot_id
        Playlist.objects.filter(pk=playlist.pk).update(spotify_snapshot_id=client.last_snapshot_id)
