"""Scaling: the daily plan of playlists per account, and carrying it out."""

from __future__ import annotations

import logging
from collections import Counter, defaultdict
from collections.abc import Sequence
from typing import Any

from django.db import transaction
from django.db.models import Count, Q

from accounts.models import SpotifyAccount
from core.locks import redis_lock
from playlists.models import Playlist, PlaylistHistory, PlaylistPolicy
from playlists.services.common import ACTOR_SCHEDULE, history_record, lock_ttl
from playlists.services.creation import account_playlist_capacity, playlists_create
from playlists.services.previews import capacity_notes, scale_call_plan
from playlists.services.retire import playlist_retire, playlists_queue_unfollow

logger = logging.getLogger(__name__)


def _scale_targets(accounts: Sequence[SpotifyAccount]) -> list[dict[str, Any]]:
    seen_per_app: dict[int, int] = defaultdict(int)
    rows = []
    for account in accounts:
        capacity = account_playlist_capacity(account)
        active = account.active_playlists  # type: ignore[attr-defined]
        skip = account.work_blocked_reason
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
    with redis_lock("playlists-scale", ttl_seconds=lock_ttl()):
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
    retiring: list[Playlist] = []
    for row in rows:
        row["create"], row["retire"], row["moved_in"], row["moved_out"] = 0, 0, 0, 0
        surplus = row["active"] - row["target"]
        if surplus <= 0:
            continue
        account_playlists = list(
            Playlist.objects.filter(account_id=row["account_id"], status=Playlist.Status.ACTIVE)
            .select_related("policy", "account")
            .order_by("-index")[:surplus]
        )
        moving = row["target"] == 0
        for playlist in account_playlists:
            if not moving:
                retire.append((str(playlist.pk), "surplus over capacity"))
                retiring.append(playlist)
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
            retiring.append(playlist)
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
        # What the run would touch and the Spotify calls it queues, in every preview's shape.
        **scale_call_plan(accounts=by_id, rows=rows, retiring=retiring, moves=moves, unplaced=unplaced),
    }
    if dry_run:
        more: Counter[int] = Counter()
        for row in rows:
            more[by_id[row["account_id"]].app_id] += row["create"] - row["retire"]
        plan["notes"] += capacity_notes(more)
        return plan
    with transaction.atomic():
        retired = []
        for playlist_id, reason in retire:
            playlist = Playlist.objects.get(pk=playlist_id)
            if playlist_retire(playlist=playlist, actor=actor, reason=reason, queue_unfollow=False):
                plan["retired"] += 1
                retired.append(playlist)
        # The Spotify side per account, 40 playlists per call.
        playlists_queue_unfollow(playlists=retired, actor=actor)
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
                    history_record(
                        new_playlist,
                        PlaylistHistory.Action.MOVE,
                        actor,
                        from_playlist=move["playlist_id"],
                        from_account=move["from_account"],
                    )
                    history_record(
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
