"""Creation: new playlists on an account within its capacity, their first sync queued."""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from accounts.models import SpotifyAccount
from audit.services import audit_record
from core.actors import is_operator
from jobs.models import JobRun
from jobs.services import job_enqueue_many
from playlists.models import Playlist, PlaylistHistory, PlaylistPolicy
from playlists.services.common import playlist_subject
from playlists.services.policies import policy_get_default


def account_playlist_capacity(account: SpotifyAccount) -> int:
    return min(account.playlist_capacity, settings.PLAYLISTS_PER_ACCOUNT_MAX)


def _queue_sync(playlists: list[Playlist], actor: str) -> None:
    job_enqueue_many(
        "playlist_sync_one",
        trigger=JobRun.Trigger.CHAIN,
        triggered_by=actor,
        kwargs_list=[{"playlist_id": str(p.pk), "actor": actor} for p in playlists],
        subjects=[playlist_subject(p) for p in playlists],
    )


def playlists_create_check(*, account: SpotifyAccount, count: int) -> int:
    """The rules of playlists_create (and of its dry run): raises ValidationError (field errors on
    account_id / count) for an account work may not touch or a count outside 1..free capacity;
    returns the index the first new playlist takes."""
    skip = account.work_blocked_reason
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
    return playlist_next_index(account)


def playlist_next_index(account: SpotifyAccount) -> int:
    """The index the account's next new playlist takes (indexes are never reused)."""
    return (Playlist.objects.filter(account=account).aggregate(m=Max("index"))["m"] or 0) + 1


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
    start = playlists_create_check(account=account, count=count)
    policy = policy or policy_get_default()
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
        _queue_sync(playlists, actor)
    if is_operator(actor):
        audit_record(
            actor=actor,
            action="playlists.create",
            target=account,
            target_repr=account.display_name,
            details={"count": count, "playlists": [str(p.pk) for p in playlists]},
        )
    return playlists
