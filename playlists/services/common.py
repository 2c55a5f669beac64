"""Shared by the playlist services: the schedule actor, lock TTL, marker, history rows, account helpers."""

from __future__ import annotations

import uuid
from typing import Any

from django.conf import settings

from accounts.models import SpotifyAccount
from playlists.models import Playlist, PlaylistHistory

ACTOR_SCHEDULE = "schedule"


def lock_ttl() -> int:
    # Outlive the task's hard time limit: a killed worker's lock then expires on its own.
    return int(settings.CELERY_TASK_TIME_LIMIT) + 30


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


def playlist_connectors_disabled() -> list[str]:
    """Connectors (spotify.playlists, spotify.token) an operator switched off: sync waits."""
    from opsconsole.spotify.connectors import PLAYLISTS_CONNECTORS, connectors_disabled

    return connectors_disabled(PLAYLISTS_CONNECTORS)


def playlist_subject(playlist: Playlist) -> dict[str, str]:
    """What a job run on this playlist works on (JobRun.subject): found again by playlist or account."""
    return {"playlist": str(playlist.pk), "account": str(playlist.account_id)}
