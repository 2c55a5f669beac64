"""Playlist operations: snapshots, sync to Spotify, reshuffles, retirement, creation, scaling.

Each operation lives here once; the admin actions, the API and the Celery tasks call these.
Actors are "schedule", "admin:<username>" or "api:<username>".
"""

from __future__ import annotations

from playlists.services.capacity import capacity_change_warnings, fleet_capacity
from playlists.services.common import ACTOR_SCHEDULE, account_services, playlist_marker
from playlists.services.creation import account_playlist_capacity, playlists_create
from playlists.services.parking import playlist_park, playlists_resume_parked
from playlists.services.policies import policy_get_default
from playlists.services.previews import create_preview, create_preview_many, reshuffle_preview
from playlists.services.queueing import playlists_queue_reshuffle, playlists_queue_scale, playlists_queue_sync
from playlists.services.rendering import playlist_render
from playlists.services.reshuffle import playlist_reshuffle
from playlists.services.retire import playlist_retire, playlist_unfollow, playlists_queue_unfollow, playlists_unfollow
from playlists.services.scaling import playlists_scale_daily
from playlists.services.scheduling import playlists_reshuffle_due, playlists_skip_unschedulable
from playlists.services.snapshots import playlist_build_snapshot, playlists_build_snapshots
from playlists.services.sync import playlist_sync
from playlists.services.verify import playlist_set_frozen, playlists_verify

__all__ = [
    "ACTOR_SCHEDULE",
    "account_playlist_capacity",
    "capacity_change_warnings",
    "fleet_capacity",
    "account_services",
    "playlist_build_snapshot",
    "playlist_marker",
    "playlist_park",
    "playlist_render",
    "playlist_reshuffle",
    "playlist_retire",
    "playlist_set_frozen",
    "playlist_sync",
    "playlist_unfollow",
    "playlists_build_snapshots",
    "playlists_create",
    "playlists_queue_reshuffle",
    "playlists_queue_scale",
    "playlists_queue_sync",
    "reshuffle_preview",
    "create_preview",
    "create_preview_many",
    "playlists_reshuffle_due",
    "playlists_resume_parked",
    "playlists_queue_unfollow",
    "playlists_scale_daily",
    "playlists_skip_unschedulable",
    "playlists_unfollow",
    "playlists_verify",
    "policy_get_default",
]
