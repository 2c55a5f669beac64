"""Playlist operations: snapshots, sync to Spotify, reshuffles, retirement, creation, scaling.

Each operation lives here once; the admin actions, the API and the Celery tasks call these.
Actors are "schedule", "admin:<username>" or "api:<username>".
"""

from __future__ import annotations

import html
import logging
import secrets
import uuid
from collections import defaultdict
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.db.models import Count, Max, Q
from django.template import TemplateSyntaxError
from django.utils import timezone

from accounts.models import SpotifyAccount
from ingest.models import Track
from opsconsole.counters import counter_inc
from opsconsole.locks import redis_lock
from playlists import selectors
from playlists.models import Playlist, PlaylistHistory, PlaylistPolicy, PlaylistSnapshot, SnapshotTrack
from playlists.sampler import _RECENT_SQL, _policy_filters, _recent_params, _tables, sample_tracks
from playlists.templating import template_render

logger = logging.getLogger(__name__)

ACTOR_SCHEDULE = "schedule"
DEFAULT_POLICY_NAME = "Default"
# Spotify limits: 300 characters of description; the marker must always fit.
DESCRIPTION_MAX = 300
NAME_MAX = 100
# current_user_playlists pages scanned when looking for a playlist by its marker.
MARKER_LOOKUP_MAX_PAGES = 100


def _lock_ttl() -> int:
    # Outlive the task's hard time limit: a killed worker's lock then expires on its own.
    return int(settings.CELERY_TASK_TIME_LIMIT) + 30


def playlist_marker(playlist_id: uuid.UUID | str) -> str:
    """The tag our playlists carry in their Spotify description, to find them after a crash."""
    return f"[ops:{playlist_id}]"


def _history(playlist: Playlist, action: str, actor: str, **details: Any) -> PlaylistHistory:
    return PlaylistHistory.objects.create(playlist=playlist, action=action, actor=actor[:150], details=details)


# --- Policies ----------------------------------------------------------------------------


def policy_get_default() -> PlaylistPolicy:
    """The policy new playlists get unless told otherwise (created from settings once)."""
    policy = PlaylistPolicy.objects.filter(is_default=True).order_by("pk").first()
    if policy is None:
        policy, _ = PlaylistPolicy.objects.get_or_create(name=DEFAULT_POLICY_NAME, defaults={"is_default": True})
    return policy


# --- Snapshots ---------------------------------------------------------------------------


def _short_pool_reason(*, playlist: Playlist, policy: PlaylistPolicy, now: Any) -> dict[str, Any]:
    """Why the pool could not fill the size: counted only when it happened (rare, bounded)."""
    params: dict[str, Any] = {}
    where = _policy_filters(policy, params) or ["TRUE"]
    cooldown = policy.cooldown_days > 0
    if cooldown:
        params.update(_recent_params(playlist.pk, policy.cooldown_days, now))
    head = _RECENT_SQL if cooldown else "WITH recent AS (SELECT NULL::bigint AS track_id WHERE FALSE)"
    sql = (
        head
        + " SELECT count(*), count(DISTINCT t.artist_id), count(*) FILTER (WHERE t.id IN (SELECT track_id FROM recent))"
        + " FROM {track} t WHERE "
        + " AND ".join(where)
    ).format(**_tables())
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        passing, artists, cooling = cursor.fetchone()
    return {
        "tracks_passing_policy": passing,
        "artists_passing_policy": artists,
        "in_cooldown": cooling,
        "reason": (
            f"{passing} tracks by {artists} artists pass the feature ranges and source filter; "
            f"{cooling} of them are in the {policy.cooldown_days}-day cooldown; "
            f"at most {policy.artist_cap} per artist."
        ),
    }


@transaction.atomic
def playlist_build_snapshot(*, playlist: Playlist, seed: int | None = None, actor: str) -> PlaylistSnapshot:
    """Sample the playlist's tracks under its policy and make that the current snapshot.

    Reproducible: the same seed on the same catalog and history picks the same tracks in the
    same order. A short pool leaves the snapshot short (strict) or relaxes the artist cap, then
    the cooldown (relax); either way `notes` and the history say what happened.
    """
    # The row lock serializes two builds of one playlist (the cooldown reads its history).
    playlist = Playlist.objects.select_for_update().select_related("policy").get(pk=playlist.pk)
    policy = playlist.policy
    seed = secrets.randbelow(2**62) if seed is None else int(seed)
    now = timezone.now()
    result = sample_tracks(policy=policy, playlist_id=playlist.pk, seed=seed, now=now)
    notes: dict[str, Any] = {"size": policy.size, "short_pool": policy.short_pool}
    if result.short_by:
        notes["short_by"] = result.short_by
        notes.update(_short_pool_reason(playlist=playlist, policy=policy, now=now))
    if result.relaxed:
        spotify_ids = dict(Track.objects.filter(pk__in=[p.track_id for p in result.picks]).values_list("pk", "spotify_id"))
        notes["relaxed"] = {rule: [spotify_ids[t] for t in ids] for rule, ids in result.relaxed.items()}
    snapshot = PlaylistSnapshot.objects.create(playlist=playlist, seed=seed, track_count=len(result.picks), notes=notes)
    SnapshotTrack.objects.bulk_create(
        SnapshotTrack(snapshot=snapshot, track_id=track_id, position=position)
        for position, track_id in enumerate(result.track_ids, start=1)
    )
    playlist.current_snapshot = snapshot
    update_fields = ["current_snapshot", "updated_at"]
    if playlist.sync_state == Playlist.SyncState.SYNCED:
        playlist.sync_state = Playlist.SyncState.PENDING
        update_fields.append("sync_state")
    playlist.save(update_fields=update_fields)
    _history(
        playlist,
        PlaylistHistory.Action.SNAPSHOT,
        actor,
        snapshot_id=snapshot.pk,
        seed=seed,
        track_count=snapshot.track_count,
        size=policy.size,
        short_by=result.short_by,
        relaxed={rule: len(ids) for rule, ids in result.relaxed.items()},
        reason=notes.get("reason", ""),
    )
    logger.debug(
        "playlist snapshot built",
        extra={"playlist_id": str(playlist.pk), "snapshot_id": snapshot.pk, "tracks": snapshot.track_count},
    )
    return snapshot


def playlists_build_snapshots(*, playlist_ids: list[str], actor: str) -> dict[str, Any]:
    """Snapshot a batch in one transaction (one commit, a savepoint each): a failing playlist is
    reported and skipped while the batch goes on."""
    built, short, failed, skipped = 0, [], [], 0
    with transaction.atomic():
        playlists = {str(p.pk): p for p in Playlist.objects.filter(pk__in=playlist_ids, status=Playlist.Status.ACTIVE)}
        for playlist_id in playlist_ids:
            playlist = playlists.get(str(playlist_id))
            if playlist is None:
                skipped += 1
                continue
            try:
                snapshot = playlist_build_snapshot(playlist=playlist, actor=actor)
            except Exception as exc:  # noqa: BLE001 - one bad playlist must not stop the batch; it is reported
                logger.exception("snapshot failed", extra={"playlist_id": playlist_id})
                failed.append({"playlist_id": str(playlist_id), "error": f"{type(exc).__name__}: {exc}"[:300]})
                continue
            built += 1
            if snapshot.notes.get("short_by"):
                short.append(
                    {
                        "playlist_id": str(playlist_id),
                        "short_by": snapshot.notes["short_by"],
                        "reason": snapshot.notes.get("reason", ""),
                    }
                )
    return {"built": built, "short": short, "failed": failed, "skipped": skipped}


# --- Rendering -------------------------------------------------------------------------


def playlist_render(*, playlist: Playlist, snapshot: PlaylistSnapshot | None) -> tuple[str, str]:
    """Name and description (with the marker) from the policy's templates."""
    account, policy = playlist.account, playlist.policy
    context = {
        # Only harmless fields: a template must never be able to print a token.
        "account": {"display_name": account.display_name, "spotify_user_id": account.spotify_user_id, "id": str(account.pk)},
        "policy": {
            "name": policy.name,
            "size": policy.size,
            "cooldown_days": policy.cooldown_days,
            "artist_cap": policy.artist_cap,
            "reshuffle_interval_days": policy.reshuffle_interval_days,
        },
        # The snapshot's day, not today's: an unchanged playlist must render the same text tomorrow.
        "date": (snapshot.created_at if snapshot else playlist.created_at).date(),
        "index": playlist.index,
        "top_artists": selectors.snapshot_top_artists(snapshot_id=snapshot.pk) if snapshot else [],
        "track_count": snapshot.track_count if snapshot else 0,
    }
    name = template_render(policy.name_template, context)[:NAME_MAX] or f"Playlist {playlist.index}"
    marker = playlist_marker(playlist.pk)
    body = template_render(policy.description_template, context)[: DESCRIPTION_MAX - len(marker) - 1]
    return name, f"{body} {marker}".strip()


# --- Sync --------------------------------------------------------------------------------


def account_services() -> Any:
    # Imported late: accounts.services imports the Spotify client, which the sampler never needs.
    from accounts import services as accounts_services

    return accounts_services


def _spotify_client(account: SpotifyAccount) -> Any:
    return account_services().spotify_client_for_account(account)


def _record_account_auth_failure(*, account: SpotifyAccount, error: Exception) -> None:
    account_services().account_record_failure(account=account, error=f"{type(error).__name__}: {error}", auth=True)


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


def _connectors_disabled() -> list[str]:
    """Connectors (spotify.playlists, spotify.token) an operator switched off: sync waits."""
    from ingest.connectors import PLAYLISTS_CONNECTORS, connectors_disabled

    return connectors_disabled(PLAYLISTS_CONNECTORS)


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
    with redis_lock(f"playlist-sync:{playlist.pk}", ttl_seconds=_lock_ttl(), owner=lock_owner):
        return _sync_locked(playlist_id=playlist.pk, actor=actor, verify=verify)


def _sync_locked(*, playlist_id: uuid.UUID, actor: str, verify: bool) -> dict[str, Any]:
    from opsconsole.spotify import TRANSIENT_ERRORS, SpotifyAuthError, SpotifyError, SpotifyNotFound

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
    skip = selectors.account_skip_reason(playlist.account)
    if skip:
        _history(playlist, PlaylistHistory.Action.SKIP, actor, operation="sync", reason=skip)
        return {**result, "skipped": skip}
    disabled = _connectors_disabled()
    if disabled:
        _history(playlist, PlaylistHistory.Action.SKIP, actor, operation="sync", reason="disabled", connectors=disabled)
        return {**result, "skipped": "disabled", "disabled_connectors": disabled}
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
        _history(playlist, PlaylistHistory.Action.FAIL, actor, operation="sync", error=error[:500])
        return {**result, "failed": error}
    account = playlist.account
    try:
        client = _spotify_client(account)
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
                _history(
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
            _record_account_auth_failure(account=account, error=exc)
        else:
            # A 4xx on the account's own playlist is evidence about the account; 5xx were transient.
            account_services().account_record_failure(account=account, error=f"{type(exc).__name__}: {exc}")
        Playlist.objects.filter(pk=playlist.pk).update(
            sync_state=Playlist.SyncState.FAILED, sync_error=f"{type(exc).__name__}: {exc}"[:2000], updated_at=timezone.now()
        )
        _history(playlist, PlaylistHistory.Action.FAIL, actor, operation="sync", error=f"{type(exc).__name__}: {exc}"[:500])
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
        _history(
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
            _history(
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
            _history(playlist, PlaylistHistory.Action.CREATE, actor, spotify_playlist_id=created_playlist["id"], name=name)
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
            _history(
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


# --- Reshuffle, retire -------------------------------------------------------------------


def playlist_reshuffle(
    *, playlist: Playlist, actor: str, only_if_due: bool = False, seed: int | None = None, lock_owner: str | None = None
) -> dict[str, Any]:
    """New snapshot, sync, next reshuffle from the policy interval; counted in reshuffles_total.

    A snapshot that was built but never synced is reused, so a retried reshuffle (rate limit,
    lock) does not burn a second selection.
    """
    with redis_lock(f"playlist-sync:{playlist.pk}", ttl_seconds=_lock_ttl(), owner=lock_owner):
        playlist = Playlist.objects.select_related("account", "policy", "current_snapshot").get(pk=playlist.pk)
        now = timezone.now()
        if playlist.status != Playlist.Status.ACTIVE:
            return {"playlist_id": str(playlist.pk), "skipped": "retired"}
        if only_if_due and (playlist.next_reshuffle_at is None or playlist.next_reshuffle_at > now):
            return {"playlist_id": str(playlist.pk), "skipped": "not due"}
        skip = selectors.account_skip_reason(playlist.account)
        if skip:
            _history(playlist, PlaylistHistory.Action.SKIP, actor, operation="reshuffle", reason=skip)
            return {"playlist_id": str(playlist.pk), "skipped": skip}
        disabled = _connectors_disabled()
        if disabled:
            # Before building a snapshot: the selection is not burned while Spotify writes are off.
            _history(playlist, PlaylistHistory.Action.SKIP, actor, operation="reshuffle", reason="disabled", connectors=disabled)
            return {"playlist_id": str(playlist.pk), "skipped": "disabled", "disabled_connectors": disabled}
        snapshot = playlist.current_snapshot
        if snapshot is None or snapshot.synced_at is not None or seed is not None:
            snapshot = playlist_build_snapshot(playlist=playlist, seed=seed, actor=actor)
        result = _sync_locked(playlist_id=playlist.pk, actor=actor, verify=False)
        next_at = timezone.now() + timedelta(days=playlist.policy.reshuffle_interval_days)
        Playlist.objects.filter(pk=playlist.pk).update(next_reshuffle_at=next_at)
        _history(
            playlist,
            PlaylistHistory.Action.RESHUFFLE,
            actor,
            snapshot_id=snapshot.pk,
            track_count=snapshot.track_count,
            next_reshuffle_at=next_at.isoformat(),
        )
        counter_inc("reshuffles_total")
        return {**result, "reshuffled": True, "snapshot_id": snapshot.pk, "next_reshuffle_at": next_at.isoformat()}


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
    _history(playlist, PlaylistHistory.Action.RETIRE, actor, reason=reason, unfollow="queued" if queue_unfollow else "not asked")
    if queue_unfollow and playlist.spotify_playlist_id:
        from playlists.tasks import playlist_retire_one

        playlist_id, task_actor = str(playlist.pk), actor
        transaction.on_commit(lambda: playlist_retire_one.delay(playlist_id=playlist_id, actor=task_actor))
    return True


def playlist_unfollow(*, playlist: Playlist, actor: str, lock_owner: str | None = None) -> dict[str, Any]:
    """Unfollow a retired playlist on Spotify (Spotify's way of deleting it). Idempotent."""
    from opsconsole.spotify import SpotifyAuthError, SpotifyNotFound

    with redis_lock(f"playlist-sync:{playlist.pk}", ttl_seconds=_lock_ttl(), owner=lock_owner):
        playlist = Playlist.objects.select_related("account").get(pk=playlist.pk)
        result = {"playlist_id": str(playlist.pk), "unfollowed": False}
        if playlist.status != Playlist.Status.RETIRED or not playlist.spotify_playlist_id:
            return {**result, "skipped": "not retired or never created"}
        already = playlist.history.filter(action=PlaylistHistory.Action.RETIRE, details__unfollowed=True).exists()
        if already:
            return {**result, "skipped": "already unfollowed"}
        skip = selectors.account_skip_reason(playlist.account)
        if skip:
            # The token may be dead: keep the Spotify id so an operator can unfollow after re-auth.
            _history(playlist, PlaylistHistory.Action.SKIP, actor, operation="unfollow", reason=skip)
            return {**result, "skipped": skip}
        try:
            _spotify_client(playlist.account).unfollow_playlist(playlist.spotify_playlist_id)
        except SpotifyNotFound:
            pass
        except SpotifyAuthError as exc:
            _record_account_auth_failure(account=playlist.account, error=exc)
            raise
        _history(
            playlist, PlaylistHistory.Action.RETIRE, actor, unfollowed=True, spotify_playlist_id=playlist.spotify_playlist_id
        )
        return {**result, "unfollowed": True}


# --- Creation ----------------------------------------------------------------------------


def account_playlist_capacity(account: SpotifyAccount) -> int:
    return min(account.playlist_capacity, settings.PLAYLISTS_PER_ACCOUNT_MAX)


def _queue_sync(playlist_ids: list[str], actor: str) -> None:
    from playlists.tasks import playlist_sync_one

    def publish() -> None:
        for playlist_id in playlist_ids:
            playlist_sync_one.delay(playlist_id=playlist_id, actor=actor)

    transaction.on_commit(publish)


@transaction.atomic
def playlists_create(
    *,
    account: SpotifyAccount,
    count: int,
    actor: str,
    policy: PlaylistPolicy | None = None,
    queue_sync: bool = True,
) -> list[Playlist]:
    """Create `count` playlists on the account (rows now; Spotify via queued syncs).

    Raises ValidationError (field errors on account_id / count) for an inactive, quarantined or
    re-auth account, or a count outside 1..free capacity.
    """
    # Lock the account row: two concurrent creations must not both fill the last free slots.
    account = SpotifyAccount.objects.select_for_update().get(pk=account.pk)
    skip = selectors.account_skip_reason(account)
    if skip:
        raise ValidationError({"account_id": [f"Cannot create playlists: {skip}."]})
    active = Playlist.objects.filter(account=account, status=Playlist.Status.ACTIVE).count()
    free = account_playlist_capacity(account) - active
    if free <= 0:
        raise ValidationError(
            {"count": [f"Account is at capacity ({active} of {account_playlist_capacity(account)} playlists)."]}
        )
    if not 1 <= count <= free:
        raise ValidationError({"count": [f"Count must be between 1 and {free} (free capacity of this account)."]})
    policy = policy or policy_get_default()
    start = (Playlist.objects.filter(account=account).aggregate(m=Max("index"))["m"] or 0) + 1
    now = timezone.now()
    playlists = Playlist.objects.bulk_create(
        Playlist(
            account=account,
            policy=policy,
            index=start + n,
            next_reshuffle_at=now + timedelta(days=policy.reshuffle_interval_days),
        )
        for n in range(count)
    )
    PlaylistHistory.objects.bulk_create(
        PlaylistHistory(
            playlist=p,
            action=PlaylistHistory.Action.CREATE,
            actor=actor[:150],
            details={"policy": policy.name, "index": p.index, "on_spotify": "queued" if queue_sync else "later"},
        )
        for p in playlists
    )
    if queue_sync:
        _queue_sync([str(p.pk) for p in playlists], actor)
    return playlists


# --- Scheduled selections ------------------------------------------------------------------


def playlists_skip_unschedulable(*, playlists: list[Playlist], actor: str, operation: str) -> list[Playlist]:
    """Record a skip for playlists whose account may not be worked on; return the others."""
    keep, skipped = [], []
    for playlist in playlists:
        reason = selectors.account_skip_reason(playlist.account)
        if reason:
            skipped.append(
                PlaylistHistory(
                    playlist=playlist,
                    action=PlaylistHistory.Action.SKIP,
                    actor=actor[:150],
                    details={"operation": operation, "reason": reason},
                )
            )
        else:
            keep.append(playlist)
    PlaylistHistory.objects.bulk_create(skipped)
    return keep


def playlists_reshuffle_due(*, actor: str = ACTOR_SCHEDULE, now: Any = None, limit: int = 10000) -> dict[str, Any]:
    """Due playlists, healthy accounts first, degraded after; the unschedulable get a skip row."""
    now = now or timezone.now()
    due = list(
        selectors.playlists_in_health_order(
            selectors.playlists_active().filter(next_reshuffle_at__lte=now).select_related("account")
        )[:limit]
    )
    keep = playlists_skip_unschedulable(playlists=due, actor=actor, operation="reshuffle")
    return {"due": len(due), "skipped": len(due) - len(keep), "playlist_ids": [str(p.pk) for p in keep]}


# --- Scaling -------------------------------------------------------------------------------


def _scale_targets(accounts: Sequence[SpotifyAccount]) -> list[dict[str, Any]]:
    seen_per_app: dict[int, int] = defaultdict(int)
    rows = []
    for account in accounts:
        capacity = account_playlist_capacity(account)
        active = account.active_playlists  # type: ignore[attr-defined]
        skip = selectors.account_skip_reason(account)
        row = {
            "account_id": str(account.pk),
            "display_name": account.display_name,
            "health": account.health,
            "is_active": account.is_active,
            "app": account.app.name,
            "capacity": capacity,
            "active": active,
        }
        if skip:
            row.update(target=0, reason=f"{skip}: its playlists move to healthy accounts")
        else:
            seen_per_app[account.app_id] += 1
            if seen_per_app[account.app_id] > account.app.user_cap:
                row.update(
                    target=min(active, capacity),
                    reason=f"app {account.app.name} is at its user cap ({account.app.user_cap}): no new load",
                )
            elif account.health == SpotifyAccount.Health.DEGRADED:
                row.update(target=min(active, capacity), reason="degraded: holds its playlists, takes no new ones")
            else:
                row.update(target=capacity, reason="healthy: filled to capacity")
        rows.append(row)
    return rows


def playlists_scale_daily(*, dry_run: bool, actor: str = ACTOR_SCHEDULE, max_creates: int = 5000) -> dict[str, Any]:
    """Plan (and unless dry_run, carry out) the target playlist count of every account.

    Targets: healthy accounts up to min(account.playlist_capacity, PLAYLISTS_PER_ACCOUNT_MAX);
    degraded accounts and accounts beyond their app's user cap keep what they have (no new
    load); quarantined, re-auth and inactive accounts go to 0 and their playlists move to
    healthy accounts with room (same policy; the old one retired, history on both). A move with
    no room anywhere stays where it is and is reported as unplaced.
    """
    with redis_lock("playlists-scale", ttl_seconds=_lock_ttl()):
        return _scale(dry_run=dry_run, actor=actor, max_creates=max_creates)


def _scale(*, dry_run: bool, actor: str, max_creates: int) -> dict[str, Any]:
    accounts = list(
        SpotifyAccount.objects.select_related("app")
        .annotate(active_playlists=Count("playlists", filter=Q(playlists__status=Playlist.Status.ACTIVE)))
        .order_by("app_id", "created_at", "pk")
    )
    rows = _scale_targets(accounts)
    by_id = {str(a.pk): a for a in accounts}
    # Healthy accounts with the most room take moved load first.
    room = {r["account_id"]: r["target"] - r["active"] for r in rows if r["target"] > r["active"]}
    moves: list[dict[str, Any]] = []
    unplaced: list[str] = []
    retire: list[tuple[str, str]] = []  # (playlist id, reason)
    for row in rows:
        row["create"], row["retire"], row["moved_in"], row["moved_out"] = 0, 0, 0, 0
        surplus = row["active"] - row["target"]
        if surplus <= 0:
            continue
        account_playlists = list(
            Playlist.objects.filter(account_id=row["account_id"], status=Playlist.Status.ACTIVE)
            .select_related("policy")
            .order_by("-index")[:surplus]
        )
        moving = row["target"] == 0
        for playlist in account_playlists:
            if not moving:
                retire.append((str(playlist.pk), "surplus over capacity"))
                row["retire"] += 1
                continue
            destination = max(room, key=lambda k: room[k], default=None)
            if destination is None or room[destination] <= 0:
                unplaced.append(str(playlist.pk))
                continue
            room[destination] -= 1
            moves.append(
                {
                    "playlist_id": str(playlist.pk),
                    "from_account": row["account_id"],
                    "to_account": destination,
                    "policy_id": playlist.policy_id,
                    "policy": playlist.policy.name,
                }
            )
            retire.append((str(playlist.pk), f"moved off {row['health'] if row['is_active'] else 'inactive'} account"))
            row["retire"] += 1
            row["moved_out"] += 1
    budget = max_creates
    for row in rows:
        moved_in = sum(1 for m in moves if m["to_account"] == row["account_id"])
        new = max(row["target"] - row["active"], 0) - moved_in
        row["moved_in"] = moved_in
        row["create"] = moved_in + max(min(new, budget), 0)
        budget -= max(min(new, budget), 0)
    plan: dict[str, Any] = {
        "dry_run": dry_run,
        "accounts": rows,
        "moves": moves,
        "unplaced": unplaced,
        "to_create": sum(r["create"] for r in rows),
        "to_retire": len(retire),
        "created": 0,
        "retired": 0,
    }
    if dry_run:
        return plan
    with transaction.atomic():
        for playlist_id, reason in retire:
            playlist = Playlist.objects.get(pk=playlist_id)
            if playlist_retire(playlist=playlist, actor=actor, reason=reason):
                plan["retired"] += 1
        for row in rows:
            account = by_id[row["account_id"]]
            incoming = [m for m in moves if m["to_account"] == row["account_id"]]
            by_policy: dict[int, list[dict[str, Any]]] = defaultdict(list)
            for move in incoming:
                by_policy[move["policy_id"]].append(move)
            for policy_id, group in by_policy.items():
                created = playlists_create(
                    account=account, count=len(group), actor=actor, policy=PlaylistPolicy.objects.get(pk=policy_id)
                )
                for move, new_playlist in zip(group, created, strict=True):
                    move["new_playlist_id"] = str(new_playlist.pk)
                    _history(
                        new_playlist,
                        PlaylistHistory.Action.MOVE,
                        actor,
                        from_playlist=move["playlist_id"],
                        from_account=move["from_account"],
                    )
                    _history(
                        Playlist(pk=move["playlist_id"]),
                        PlaylistHistory.Action.MOVE,
                        actor,
                        to_playlist=str(new_playlist.pk),
                        to_account=row["account_id"],
                    )
                plan["created"] += len(created)
            fresh = row["create"] - len(incoming)
            if fresh > 0:
                plan["created"] += len(playlists_create(account=account, count=fresh, actor=actor))
    logger.info(
        "playlists scaled",
        extra={"playlists_created": plan["created"], "playlists_retired": plan["retired"], "unplaced": len(unplaced)},
    )
    return plan


# --- Bulk queueing (admin and API doors) ---------------------------------------------------


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
