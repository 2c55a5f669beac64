"""Shared by the playlist services: the schedule actor, lock TTL, marker, history rows, account helpers."""

from __future__ import annotations

import uuid
from contextlib import AbstractContextManager
from typing import Any

from django.conf import settings

from accounts.models import SpotifyAccount
from core.locks import redis_lock, redis_lock_release, redis_locks_release
from playlists.models import Playlist, PlaylistHistory

ACTOR_SCHEDULE = "schedule"


def lock_ttl() -> int:
    # Outlive the task's hard time limit: a killed worker's lock then expires on its own.
    return int(settings.CELERY_TASK_TIME_LIMIT) + 30


def playlist_lock(playlist: Playlist, *, owner: str | None = None) -> AbstractContextManager[None]:
    """The one per-playlist lock: sync, reshuffle and unfollow never run at once on a playlist
    (`owner`: the task id, so a redelivered task takes back its own lock). Raises LockBusy."""
    return redis_lock(_lock_name(playlist.pk), ttl_seconds=lock_ttl(), owner=owner)


def _lock_name(playlist_id: uuid.UUID | str) -> str:
    return f"playlist-sync:{playlist_id}"


def playlist_lock_release_of_task(*, task_id: str, args: list[Any], kwargs: dict[str, Any]) -> bool:
    """Revoke cleanup of the per-playlist tasks (jobs.control): a terminated run
    never reached its `finally`, so the lock it owns is freed here; the next run proceeds."""
    playlist_id = kwargs.get("playlist_id") or (args[0] if args else None)
    return bool(playlist_id) and redis_lock_release(_lock_name(str(playlist_id)), owner=task_id)


def playlist_locks_release_of_task(*, task_id: str, args: list[Any], kwargs: dict[str, Any]) -> int:
    """Revoke cleanup of a run over many playlists (verify_playlists): the lock of the playlist
    it was working on when terminated is freed here (found by the chaos soak: a terminated verify
    left a playlist its owner had deleted locked, and unrepaired, for the lock's whole TTL)."""
    return playlist_locks_release_owned(owner=task_id)


def playlist_locks_release_owned(*, owner: str) -> int:
    """Free every playlist lock `owner` (a task id) still holds; returns how many."""
    return redis_locks_release(_lock_name(""), owner=owner)


def playlist_marker(playlist_id: uuid.UUID | str) -> str:
    """The tag our playlists carry in their Spotify description, to find them after a crash."""
    return f"[ops:{playlist_id}]"


def history_record(playlist: Playlist, action: str, actor: str, **details: Any) -> PlaylistHistory:
    return PlaylistHistory.objects.create(playlist=playlist, action=action, actor=actor[:150], details=details)


def account_services() -> Any:
    # Imported late: accounts.services imports the Spotify client, which the sampler never needs.
    from accounts import services as accounts_services

    return accounts_services


def account_spotify_client(account: SpotifyAccount) -> Any:
    return account_services().spotify_client_for_account(account)


def record_account_auth_failure(*, account: SpotifyAccount, error: Exception) -> None:
    account_services().account_record_failure(account=account, error=f"{type(error).__name__}: {error}", auth=True)


def playlist_connectors_skip(*, work: str) -> dict[str, Any] | None:
    """Connectors (spotify.playlists, spotify.token) an operator switched off: Spotify writes wait."""
    from spotify.connectors import PLAYLISTS_CONNECTORS, connectors_skip

    return connectors_skip(PLAYLISTS_CONNECTORS, work=work)


def playlist_subject(playlist: Playlist) -> dict[str, str]:
    """What a job run on this playlist works on (JobRun.subject): found again by playlist or account."""
    return {"playlist": str(playlist.pk), "account": str(playlist.account_id)}
