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


def policy_default_for_preview() -> PlaylistPolicy:
    """What policy_get_default would give, without creating it (a dry run writes nothing): the
    default policy, else the unsaved one it would create from settings."""
    found = PlaylistPolicy.objects.filter(is_default=True).order_by("pk").first()
    return found or PlaylistPolicy.objects.filter(name=DEFAULT_POLICY_NAME).first() or PlaylistPolicy(name=DEFAULT_POLICY_NAME)
