"""App modes on the emulator: the emulator's default app is what a new app is in 2026, a
Development Mode app registered after 27 Nov 2024 (no several-albums, no new releases, no
audio features, fewer fields, five users). A test about what an extended-quota app gets asks
for `extended_app`. Registered from tests/conftest.py (`pytest_plugins`)."""

from __future__ import annotations

from typing import Any

import pytest

from accounts.models import SpotifyApp


def emulator_make_extended(emulator: Any, client_id: str, *, audio_features: bool = True) -> None:
    """Make `client_id` an extended-quota app on the emulator; `audio_features`: one registered
    before 27 Nov 2024 (or granted since), which Spotify still serves audio features."""
    emulator.set_app_mode(client_id, "extended")
    emulator.grant_audio_features(client_id, audio_features)


@pytest.fixture
def extended_app(spotify_emulator: Any, spotify_app: SpotifyApp) -> SpotifyApp:
    """The default app as an extended-quota app still served audio features."""
    emulator_make_extended(spotify_emulator, spotify_app.client_id)
    SpotifyApp.objects.filter(pk=spotify_app.pk).update(mode=SpotifyApp.Mode.EXTENDED)
    spotify_app.mode = SpotifyApp.Mode.EXTENDED
    return spotify_app
