"""Scheduled selections: which playlists a scheduled run works on, skips recorded."""

from __future__ import annotations

from typing import Any

from django.utils import timezone

from playlists import selectors
from playlists.models import Playlist, PlaylistHistory
from playlists.services.common import ACTOR_SCHEDULE


def playlists_skip_unschedulable(*, playlists: list[Playlist], actor: str, operation: str) -> list[Playlist]:
    """Record a skip for playlists whose account may not be worked on; return the others."""
    keep, skipped = [], []
    for playlist in playlists:
        reason = playlist.account.work_blocked_reason
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
            selectors.playlists_active()
            .filter(next_reshuffle_at__lte=now, frozen=False, parked_work="")
            .select_related("account")
        )[:limit]
    )
    keep = playlists_skip_unschedulable(playlists=due, actor=actor, operation="reshuffle")
    return {"due": len(due), "skipped": len(due) - len(keep), "playlist_ids": [str(p.pk) for p in keep]}
