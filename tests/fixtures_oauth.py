"""Helpers of the connect flow: an app registered on the emulator with the console's redirect
URI, and a person's trip through the emulator's consent page back to the callback."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from django.test import Client

from accounts.models import SpotifyApp
from devstack.emulator import SpotifyEmulator, consent_over_http

REDIRECT_URI = "http://127.0.0.1:8000/oauth/spotify/callback"


@pytest.fixture
def oauth_app(spotify_emulator: SpotifyEmulator, spotify_app: SpotifyApp, settings: Any) -> SpotifyApp:
    """The default app, registered on the emulator (secret, mode, redirect URI) as in the Dashboard."""
    settings.SPOTIFY_REDIRECT_URI = REDIRECT_URI
    spotify_emulator.register_app(spotify_app.client_id, spotify_app.client_secret, "extended", [REDIRECT_URI])
    return spotify_app


def callback_query(location: str) -> dict[str, str]:
    assert location.startswith(REDIRECT_URI + "?"), location
    return {name: values[0] for name, values in parse_qs(urlsplit(location).query).items()}


def follow_link(authorize_url: str, *, user_id: str, display_name: str = "", agree: bool = True) -> Any:
    """The owner opens the link, logs in as `user_id`, agrees (or cancels) and lands on the callback."""
    location = consent_over_http(authorize_url, user_id=user_id, display_name=display_name, agree=agree)
    return Client().get("/oauth/spotify/callback", callback_query(location))
