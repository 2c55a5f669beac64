"""A Spotify Web API emulator: a real HTTP server for tests, benchmarks and the demo.

It speaks the subset of the 2026 Web API the console calls, with Spotify's per-call limits,
a catalog generated from a seed, fault injection per endpoint and request counters.
Control over HTTP under /_emulator/ lets other processes (workers, benchmarks) drive it;
`EmulatorRemote` wraps that control API with the same Python methods. The operations, their
paths and bodies are one table, `Controls` in control.py; e.g. POST /_emulator/fault
{endpoint, status, retry_after, times, latency} calls `SpotifyEmulator.fault`.

Endpoint names (counts, faults): see ENDPOINTS. Loopback only: the control API has no auth.

    catalog.py  the generated catalog          webapi.py   routes, token endpoint, handlers
    state.py    faults, counters, apps, users  control.py  the control API and EmulatorRemote
    oauth.py    /authorize consent page, the authorization_code grant, the 5-user allowlist
    server.py   SpotifyEmulator, the HTTP server over all of them

Standard library only, so `manage.py run_spotify_emulator` needs nothing else.
"""

from __future__ import annotations

from devstack.emulator.catalog import BASE62, MAX_ALBUM_TRACKS_PAGE, Catalog
from devstack.emulator.control import CONTROLS, Control, Controls, EmulatorRemote
from devstack.emulator.oauth import consent_over_http
from devstack.emulator.server import SpotifyEmulator
from devstack.emulator.state import ACCESS_TOKEN_LIFETIME, ENDPOINTS, REFRESH_TOKEN_LIFETIME, Fault
from devstack.emulator.webapi import (
    MAX_AUDIO_FEATURES,
    MAX_PAGE,
    MAX_PLAYLIST_ITEMS_WRITE,
    MAX_SEVERAL_ALBUMS,
)

__all__ = [
    "ACCESS_TOKEN_LIFETIME",
    "BASE62",
    "CONTROLS",
    "ENDPOINTS",
    "MAX_ALBUM_TRACKS_PAGE",
    "MAX_AUDIO_FEATURES",
    "MAX_PAGE",
    "MAX_PLAYLIST_ITEMS_WRITE",
    "MAX_SEVERAL_ALBUMS",
    "REFRESH_TOKEN_LIFETIME",
    "Catalog",
    "Control",
    "Controls",
    "EmulatorRemote",
    "Fault",
    "SpotifyEmulator",
    "consent_over_http",
]
