"""`manage.py check` refuses a redirect URI Spotify would refuse."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import SystemCheckError

from spotify.checks import redirect_uri_problem


@pytest.mark.parametrize(
    "uri",
    [
        "https://ops.example.com/oauth/spotify/callback",
        "http://127.0.0.1:8000/oauth/spotify/callback",
        "http://[::1]:8000/oauth/spotify/callback",
    ],
)
def test_spotify_accepts_https_and_loopback_ip_literals(uri: str) -> None:
    assert redirect_uri_problem(uri) is None


@pytest.mark.parametrize(
    ("uri", "why"),
    [
        ("http://localhost:8000/oauth/spotify/callback", "localhost"),
        ("http://ops.example.com/oauth/spotify/callback", "use https://"),
        ("http://10.0.0.5:8000/oauth/spotify/callback", "use https://"),
        ("ftp://ops.example.com/cb", "must start with https://"),
        ("https://ops.example.com/cb#frag", "fragment"),
        ("https:///oauth/spotify/callback", "no host"),
        ("http://127.0.0.1:notaport/cb", "not a URL"),
    ],
)
def test_redirect_uris_spotify_refuses_are_named(uri: str, why: str) -> None:
    problem = redirect_uri_problem(uri)
    assert problem is not None and why in problem


def test_manage_py_check_fails_with_a_clear_message_on_a_bad_redirect_uri(settings: Any) -> None:
    settings.SPOTIFY_REDIRECT_URI = "http://localhost:8000/oauth/spotify/callback"
    with pytest.raises(SystemCheckError) as failed:
        call_command("check")
    assert "spotify.E001" in str(failed.value) and "SPOTIFY_REDIRECT_URI" in str(failed.value)
    assert "http://127.0.0.1:PORT/" in str(failed.value)


def test_manage_py_check_passes_on_the_default_and_warns_on_missing_scopes(settings: Any, capsys: Any) -> None:
    call_command("check")
    settings.SPOTIFY_SCOPES = "playlist-read-private"
    call_command("check")
    assert "spotify.W002" in capsys.readouterr().err
