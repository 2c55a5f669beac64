"""Demo hook: the lead's demo runner calls this after ingest; the first-boot pipeline then
builds the snapshots (build_playlist_snapshot) and pushes them (ensure_playlist_for_account)."""

from __future__ import annotations

from django.db import transaction

from accounts.models import SpotifyAccount
from accounts.selectors import accounts_workable_q
from playlists import services
from playlists.models import Playlist

DEMO_ACTOR = "demo"


@transaction.atomic
def demo_create_playlists(*, per_account: int) -> int:
    """Give every schedulable account `per_account` active playlists (idempotent: tops up only)."""
    policy = services.policy_get_default()
    created = 0
    for account in SpotifyAccount.objects.filter(accounts_workable_q()).order_by("display_name"):
        active = Playlist.objects.filter(account=account, status=Playlist.Status.ACTIVE).count()
        count = min(per_account, services.account_playlist_capacity(account)) - active
        if count > 0:
            # No queued syncs here: the pipeline's snapshot and sync jobs pick these up in order.
            created += len(
                services.playlists_create(account=account, count=count, actor=DEMO_ACTOR, policy=policy, queue_sync=False)
            )
    return created
