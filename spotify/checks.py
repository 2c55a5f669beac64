"""System checks of the Authorization Code settings: `manage.py check` fails on a redirect URI
Spotify would refuse, so a bad value is found at deploy time, not by the first account owner."""

from __future__ import annotations

import ipaddress
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.core.checks import CheckMessage, Error, Tags, Warning, register

from spotify.auth import REQUIRED_SCOPES

CALLBACK_PATH = "/oauth/spotify/callback"


def redirect_uri_problem(uri: str) -> str | None:
    """Why Spotify would refuse `uri` as a redirect URI, or None: HTTPS, or plain HTTP only to a
    loopback IP literal (`http://127.0.0.1:PORT/...`, `http://[::1]:PORT/...`); never `localhost`."""
    try:
        parts = urlsplit(uri)
        host = parts.hostname or ""
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError:
        return "is not a URL"
    if parts.fragment:
        return "must not have a #fragment"
    if parts.scheme == "https":
        return None if host else "has no host"
    if parts.scheme != "http":
        return "must start with https:// (or http:// to a loopback IP literal)"
    if host == "localhost":
        return "uses http://localhost, which Spotify refuses: use http://127.0.0.1:PORT/... or http://[::1]:PORT/..."
    try:
        loopback = ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if not loopback:
        return "uses plain http:// to a host other than a loopback IP literal: use https://"
    return None


@register(Tags.security, deploy=False)
def check_spotify_oauth_settings(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    messages: list[CheckMessage] = []
    uri = str(settings.SPOTIFY_REDIRECT_URI)
    if problem := redirect_uri_problem(uri):
        messages.append(
            Error(
                f"SPOTIFY_REDIRECT_URI {uri!r} {problem}.",
                hint="Spotify accepts https:// redirect URIs, or http://127.0.0.1:PORT/... and http://[::1]:PORT/... "
                "for loopback; register the same URI for the app in Spotify's Developer Dashboard.",
                id="spotify.E001",
            )
        )
    elif urlsplit(uri).path != CALLBACK_PATH:
        messages.append(
            Warning(
                f"SPOTIFY_REDIRECT_URI {uri!r} does not end in {CALLBACK_PATH}, where the console receives Spotify's answer.",
                hint="Point it at this console's /oauth/spotify/callback (behind a proxy: the public address of it).",
                id="spotify.W001",
            )
        )
    missing = [scope for scope in REQUIRED_SCOPES if scope not in str(settings.SPOTIFY_SCOPES).split()]
    if missing:
        messages.append(
            Warning(
                f"SPOTIFY_SCOPES lacks {', '.join(missing)}: accounts connected with it are kept but degraded.",
                id="spotify.W002",
            )
        )
    if int(settings.SPOTIFY_AUTHORIZE_LINK_HOURS) < 1:
        messages.append(Error("SPOTIFY_AUTHORIZE_LINK_HOURS must be at least 1.", id="spotify.E002"))
    return messages
