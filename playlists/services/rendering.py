"""Rendering a playlist's name and description (with its marker) from the policy's templates."""

from __future__ import annotations

from playlists import selectors
from playlists.models import Playlist, PlaylistSnapshot
from playlists.services.common import playlist_marker
from playlists.templating import template_render

# Spotify limits: 300 characters of description; the marker must always fit.
DESCRIPTION_MAX = 300
NAME_MAX = 100


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
