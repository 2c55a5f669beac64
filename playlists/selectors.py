"""Reads: which playlists a job or a door works on, in the order it should."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from typing import Any

from django.db.models import Case, Count, IntegerField, OuterRef, Q, QuerySet, Subquery, Value, When
from django.db.models.functions import Coalesce
from django.utils import timezone

from accounts.models import SpotifyAccount
from accounts.selectors import accounts_workable_q
from core.rows import related_column
from ingest.selectors import track_uri
from playlists.models import Playlist, PlaylistHistory, SnapshotTrack


def health_rank() -> Case:
    """Healthy accounts first, degraded after (sync waves and reshuffles go in this order)."""
    return Case(
        When(account__health=SpotifyAccount.Health.OK, then=Value(0)),
        When(account__health=SpotifyAccount.Health.DEGRADED, then=Value(1)),
        default=Value(2),
        output_field=IntegerField(),
    )


def playlists_active() -> QuerySet[Playlist]:
    return Playlist.objects.filter(status=Playlist.Status.ACTIVE)


def playlists_schedulable() -> QuerySet[Playlist]:
    return playlists_active().filter(accounts_workable_q("account__"))


def playlists_unschedulable() -> QuerySet[Playlist]:
    return playlists_active().exclude(accounts_workable_q("account__"))


def playlists_needing_snapshot() -> QuerySet[Playlist]:
    """Playlists without any snapshot yet. A short one waits for its reshuffle: rebuilding it daily
    would put its own tracks in cooldown and leave it shorter still."""
    return playlists_schedulable().filter(current_snapshot__isnull=True)


def playlists_needing_sync() -> QuerySet[Playlist]:
    """Not yet on Spotify, or the current snapshot or a failure is waiting to be pushed; parked
    ones wait for resume_parked_playlists."""
    return (
        playlists_schedulable()
        .filter(parked_work="")
        .filter(
            Q(spotify_playlist_id="")
            | Q(current_snapshot__isnull=True)
            | Q(current_snapshot__synced_at__isnull=True)
            | ~Q(sync_state=Playlist.SyncState.SYNCED)
        )
    )


def playlists_in_health_order(queryset: QuerySet[Playlist]) -> QuerySet[Playlist]:
    return queryset.annotate(health_rank=health_rank()).order_by("health_rank", "next_reshuffle_at", "account_id", "index")


def playlists_for_bulk_reshuffle(
    *, mode: str, account_id: uuid.UUID | None = None, ids: Iterable[uuid.UUID] | None = None, now: Any = None
) -> QuerySet[Playlist]:
    """The active playlists a bulk reshuffle covers: mode account | all | due | playlists."""
    queryset = playlists_active().select_related("account")
    if mode == "account":
        queryset = queryset.filter(account_id=account_id)
    elif mode == "due":
        queryset = queryset.filter(next_reshuffle_at__lte=now or timezone.now())
    elif mode == "playlists":
        queryset = queryset.filter(pk__in=list(ids or []))
    elif mode != "all":
        raise ValueError(f"unknown reshuffle mode {mode!r}")
    return playlists_in_health_order(queryset)


def snapshot_track_uris(*, snapshot_id: int) -> list[str]:
    uris = SnapshotTrack.objects.filter(snapshot_id=snapshot_id).order_by("position").values_list(track_uri("track__"), flat=True)
    return list(uris)


def snapshot_top_artists(*, snapshot_id: int, limit: int = 3) -> list[str]:
    rows = (
        SnapshotTrack.objects.filter(snapshot_id=snapshot_id)
        .values("track__artist__name")
        .annotate(n=Count("id"))
        .order_by("-n", "track__artist__name")[:limit]
    )
    return [row["track__artist__name"] for row in rows]


def playlists_annotated(queryset: QuerySet[Playlist]) -> QuerySet[Playlist]:
    """Playlists with `track_count`: the current snapshot's, 0 without one (the API's playlists)."""
    return queryset.annotate(track_count=Coalesce(related_column(Playlist, "current_snapshot__track_count"), 0))


def playlists_list() -> QuerySet[Playlist]:
    return playlists_annotated(Playlist.objects.all()).order_by("account_id", "index", "id")


def playlist_history() -> QuerySet[PlaylistHistory]:
    return PlaylistHistory.objects.select_related("playlist").order_by("-created_at", "-id")


def playlists_active_count_per_account() -> Coalesce:
    """Active playlists per account as a correlated subquery: evaluated for the page's rows only
    (a JOIN + GROUP BY aggregated every playlist of the fleet before LIMIT; bench: accounts/list).
    The accounts API shows it as `playlist_count` (registered in PlaylistsConfig.ready)."""
    counts = (
        Playlist.objects.filter(account=OuterRef("pk"), status=Playlist.Status.ACTIVE)
        .order_by()
        .values("account")
        .annotate(n=Count("pk"))
        .values("n")
    )
    return Coalesce(Subquery(counts, output_field=IntegerField()), 0)
