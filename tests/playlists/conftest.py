from __future__ import annotations

import pytest

from accounts.models import SpotifyAccount, SpotifyApp


@pytest.fixture
def offline_account(spotify_app: SpotifyApp) -> SpotifyAccount:
    """An account row for tests that never reach Spotify (the sampler)."""
    return SpotifyAccount.objects.create(app=spotify_app, display_name="Offline", spotify_user_id="offline-user")
