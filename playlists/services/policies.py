"""Playlist policies: the default one new playlists get."""

from __future__ import annotations

from playlists.models import PlaylistPolicy

DEFAULT_POLICY_NAME = "Default"


def policy_get_default() -> PlaylistPolicy:
    """The policy new playlists get unless told otherwise (created from settings once)."""
    policy = PlaylistPolicy.objects.filter(is_default=True).order_by("pk").first()
    if policy is None:
        policy, _ = PlaylistPolicy.objects.get_or_create(name=DEFAULT_POLICY_NAME, defaults={"is_default": True})
    return policy
