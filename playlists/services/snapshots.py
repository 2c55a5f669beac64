"""Snapshots: sampling a playlist's tracks under its policy, one playlist or a batch."""

from __future__ import annotations

import logging
import secrets
from typing import Any

from django.db import connection, transaction
from django.utils import timezone

from ingest.models import Track
from playlists.models import Playlist, PlaylistHistory, PlaylistPolicy, PlaylistSnapshot, SnapshotTrack
from playlists.sampler import RECENT_SQL, policy_filters, recent_params, sample_tracks, sampler_tables
from playlists.services.common import history_record

logger = logging.getLogger(__name__)


def _short_pool_reason(*, playlist: Playlist, policy: PlaylistPolicy, now: Any) -> dict[str, Any]:
    """Why the pool could not fill the size: counted only when it happened (rare, bounded)."""
    params: dict[str, Any] = {}
    where = policy_filters(policy, params) or ["TRUE"]
    cooldown = policy.cooldown_days > 0
    if cooldown:
        params.update(recent_params(playlist.pk, policy.cooldown_days, now))
    head = RECENT_SQL if cooldown else "WITH recent AS (SELECT NULL::bigint AS track_id WHERE FALSE)"
    sql = (
        head
        + " SELECT count(*), count(DISTINCT t.artist_id), count(*) FILTER (WHERE t.id IN (SELECT track_id FROM recent))"
        + " FROM {track} t WHERE "
        + " AND ".join(where)
    ).format(**sampler_tables())
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
    # Only the playlist's row: locking the policy it shares with thousands of others (a join locks
    # every joined row) made two workers of the nightly run wait on, and deadlock over, policies.
    playlist = Playlist.objects.select_for_update(of=("self",)).select_related("policy").get(pk=playlist.pk)
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
    history_record(
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
