"""A Spotify Web API emulator: a real HTTP server for tests, benchmarks and the demo.

It speaks the subset of the 2026 Web API the console calls, with Spotify's per-call limits,
a catalog generated from a seed, fault injection per endpoint and request counters.
Control over HTTP under /_emulator/ lets other processes (workers, benchmarks) drive it;
`EmulatorRemote` wraps that control API with the same Python methods:

    GET  /_emulator/counts | albums | playlists?user_id=U | playlists/<id>
    POST /_emulator/reset | reset_counts | clear_faults | expire_access_tokens
    POST /_emulator/fault {endpoint, status, retry_after, times, latency}
    POST /_emulator/users {user_id, display_name, authorized_at (epoch), client_id} → tokens
    POST /_emulator/revoke {refresh_token}      POST /_emulator/app_mode {client_id, mode}
    POST /_emulator/register_app {client_id, client_secret, mode}
    POST /_emulator/audio_features {enabled}    POST /_emulator/rotate_refresh_tokens {enabled}
    POST /_emulator/rate_limit {client_id ("*": every app), max_requests (null: off), window_seconds}

Endpoint names (counts, faults): see ENDPOINTS. Loopback only: the control API has no auth.

Standard library only, so `manage.py run_spotify_emulator` needs nothing else.
"""

from __future__ import annotations

import base64
import json
import math
import random
import re
import secrets
import threading
import time
import urllib.request
from collections import Counter, deque
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, cast
from urllib.parse import parse_qs, urlsplit

BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
ACCESS_TOKEN_LIFETIME = 3600
# Spotify refresh tokens die six months after the user authorized the app.
REFRESH_TOKEN_LIFETIME = timedelta(days=182)

MAX_SEVERAL_ALBUMS = 20
MAX_ALBUM_TRACKS_PAGE = 50
MAX_AUDIO_FEATURES = 100
MAX_PLAYLIST_ITEMS_WRITE = 100
MAX_PAGE = 50

ENDPOINTS = (
    "token",
    "me",
    "browse_new_releases",
    "albums",
    "album",
    "album_tracks",
    "audio_features",
    "create_playlist",
    "playlist_details",
    "playlist_items_put",
    "playlist_items_post",
    "playlist_items_get",
    "playlist_get",
    "playlist_unfollow",
    "me_playlists",
    "playlist_tracks_legacy",
)

_TRACK_URI = re.compile(r"^spotify:track:[0-9A-Za-z]{22}$")
_ID = r"([0-9A-Za-z]+)"
_ROUTES: list[tuple[str, re.Pattern[str], str]] = [
    ("POST", re.compile(r"^/api/token$"), "token"),
    ("GET", re.compile(r"^/v1/me$"), "me"),
    ("GET", re.compile(r"^/v1/me/playlists$"), "me_playlists"),
    ("POST", re.compile(r"^/v1/me/playlists$"), "create_playlist"),
    ("GET", re.compile(r"^/v1/browse/new-releases$"), "browse_new_releases"),
    ("GET", re.compile(r"^/v1/albums$"), "albums"),
    ("GET", re.compile(rf"^/v1/albums/{_ID}$"), "album"),
    ("GET", re.compile(rf"^/v1/albums/{_ID}/tracks$"), "album_tracks"),
    ("GET", re.compile(r"^/v1/audio-features$"), "audio_features"),
    ("GET", re.compile(rf"^/v1/playlists/{_ID}$"), "playlist_get"),
    ("PUT", re.compile(rf"^/v1/playlists/{_ID}$"), "playlist_details"),
    ("GET", re.compile(rf"^/v1/playlists/{_ID}/items$"), "playlist_items_get"),
    ("PUT", re.compile(rf"^/v1/playlists/{_ID}/items$"), "playlist_items_put"),
    ("POST", re.compile(rf"^/v1/playlists/{_ID}/items$"), "playlist_items_post"),
    ("DELETE", re.compile(rf"^/v1/playlists/{_ID}/followers$"), "playlist_unfollow"),
    # The pre-2026 path: Spotify answers 403 on every method.
    ("*", re.compile(rf"^/v1/playlists/{_ID}/tracks$"), "playlist_tracks_legacy"),
]


def _now() -> float:
    return time.time()


# --- Catalog ------------------------------------------------------------------------------


class Catalog:
    """Artists, albums, tracks and audio features, the same for the same seed."""

    def __init__(self, seed: int = 42, *, album_count: int = 60, artist_count: int = 30) -> None:
        rng = random.Random(seed)
        self.seed = seed

        def new_id() -> str:
            return "".join(rng.choice(BASE62) for _ in range(22))

        words = [
            "Neon",
            "Quiet",
            "Velvet",
            "Paper",
            "Golden",
            "Static",
            "Ocean",
            "Midnight",
            "Glass",
            "Echo",
            "Wild",
            "Silver",
            "Hollow",
            "Electric",
            "Summer",
            "Low",
            "Northern",
            "Broken",
            "Slow",
            "Bright",
        ]
        nouns = [
            "Rivers",
            "Lights",
            "Hearts",
            "Machines",
            "Gardens",
            "Signals",
            "Horizons",
            "Cities",
            "Dreams",
            "Waves",
            "Mirrors",
            "Engines",
            "Shadows",
            "Birds",
            "Stones",
        ]
        self.artists: list[dict[str, Any]] = []
        for index in range(artist_count):
            artist_id = new_id()
            self.artists.append(
                {
                    "id": artist_id,
                    "name": f"{rng.choice(words)} {rng.choice(nouns)} {index}",
                    "type": "artist",
                    "uri": f"spotify:artist:{artist_id}",
                }
            )
        self._albums: dict[str, dict[str, Any]] = {}
        self._album_order: list[str] = []
        self._tracks: dict[str, dict[str, Any]] = {}
        self._album_tracks: dict[str, list[str]] = {}
        self._features: dict[str, dict[str, Any] | None] = {}
        for index in range(album_count):
            album_id = new_id()
            artist = self.artists[rng.randrange(artist_count)]
            # Every tenth album is long enough to need a second (or third) album-tracks page.
            track_count = rng.randint(51, 120) if index % 10 == 3 else rng.randint(4, 18)
            year = rng.randint(1990, 2026)
            self._albums[album_id] = {
                "id": album_id,
                "name": f"{rng.choice(words)} {rng.choice(nouns)}",
                "type": "album",
                "album_type": "album" if track_count > 6 else "single",
                "uri": f"spotify:album:{album_id}",
                "artists": [dict(artist)],
                "release_date": f"{year}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}",
                "release_date_precision": "day",
                "total_tracks": track_count,
                "label": f"{rng.choice(nouns)} Records",
                "popularity": rng.randint(0, 100),
                "genres": [],
                "images": [],
                "external_ids": {"upc": f"{rng.randrange(10**11, 10**12)}"},
            }
            self._album_order.append(album_id)
            track_ids: list[str] = []
            for number in range(1, track_count + 1):
                track_id = new_id()
                # A featured guest now and then, so artist caps see multi-artist tracks.
                artists = [dict(artist)]
                if rng.random() < 0.15:
                    artists.append(dict(self.artists[rng.randrange(artist_count)]))
                duration = rng.randint(90_000, 420_000)
                self._tracks[track_id] = {
                    "id": track_id,
                    "name": f"{rng.choice(words)} {rng.choice(nouns)} {number}",
                    "type": "track",
                    "uri": f"spotify:track:{track_id}",
                    "duration_ms": duration,
                    "track_number": number,
                    "disc_number": 1,
                    "explicit": rng.random() < 0.1,
                    "is_local": False,
                    "artists": artists,
                    "album_id": album_id,
                    "popularity": rng.randint(0, 100),
                    "external_ids": {"isrc": f"QZ{rng.randrange(10**9, 10**10)}"},
                }
                # Spotify has no analysis for some tracks and answers null for them.
                if rng.random() < 0.08:
                    self._features[track_id] = None
                else:
                    self._features[track_id] = {
                        "id": track_id,
                        "uri": f"spotify:track:{track_id}",
                        "type": "audio_features",
                        "danceability": round(rng.random(), 3),
                        "energy": round(rng.random(), 3),
                        "valence": round(rng.random(), 3),
                        "acousticness": round(rng.random(), 3),
                        "instrumentalness": round(rng.random() ** 3, 3),
                        "liveness": round(rng.random() * 0.6, 3),
                        "speechiness": round(rng.random() * 0.4, 3),
                        "loudness": round(-rng.random() * 20, 3),
                        "tempo": round(rng.uniform(60, 190), 3),
                        "key": rng.randrange(12),
                        "mode": rng.randrange(2),
                        "time_signature": rng.choice([3, 4, 4, 4, 5]),
                        "duration_ms": duration,
                    }
                track_ids.append(track_id)
            self._album_tracks[album_id] = track_ids

    # Reads -------------------------------------------------------------------------------
    def album_ids(self) -> list[str]:
        return list(self._album_order)

    def album_uris(self) -> list[str]:
        return [f"spotify:album:{album_id}" for album_id in self._album_order]

    def has_album(self, album_id: str) -> bool:
        return album_id in self._albums

    def album_track_ids(self, album_id: str) -> list[str]:
        return list(self._album_tracks[album_id])

    def track_ids(self) -> list[str]:
        return list(self._tracks)

    def track_uris(self) -> list[str]:
        return [f"spotify:track:{track_id}" for track_id in self._tracks]

    def long_album_ids(self) -> list[str]:
        """Albums with more tracks than one album-tracks page holds."""
        return [a for a in self._album_order if len(self._album_tracks[a]) > MAX_ALBUM_TRACKS_PAGE]

    def tracks_without_features(self) -> list[str]:
        return [track_id for track_id, features in self._features.items() if features is None]

    def features(self, track_id: str) -> dict[str, Any] | None:
        value = self._features.get(track_id)
        return dict(value) if value else None

    def simplified_album(self, album_id: str, base: str) -> dict[str, Any]:
        album = self._albums[album_id]
        keys = (
            "id",
            "name",
            "type",
            "album_type",
            "uri",
            "artists",
            "release_date",
            "release_date_precision",
            "total_tracks",
            "images",
        )
        result = {name: album[name] for name in keys}
        result["href"] = f"{base}/v1/albums/{album_id}"
        result["external_urls"] = {"spotify": f"https://open.spotify.com/album/{album_id}"}
        return result

    def simplified_track(self, track_id: str, base: str) -> dict[str, Any]:
        track = {k: v for k, v in self._tracks[track_id].items() if k not in ("album_id", "popularity", "external_ids")}
        track["href"] = f"{base}/v1/tracks/{track_id}"
        track["preview_url"] = None
        return track

    def full_track(self, track_id: str, base: str) -> dict[str, Any] | None:
        if track_id not in self._tracks:
            return None
        stored = self._tracks[track_id]
        track = self.simplified_track(track_id, base)
        track["popularity"] = stored["popularity"]
        track["external_ids"] = stored["external_ids"]
        track["album"] = self.simplified_album(stored["album_id"], base)
        return track

    def full_album(self, album_id: str, base: str) -> dict[str, Any]:
        album = dict(self._albums[album_id])
        album.update(self.simplified_album(album_id, base))
        album["tracks"] = self.album_tracks_page(album_id, base, offset=0, limit=MAX_ALBUM_TRACKS_PAGE)
        return album

    def album_tracks_page(self, album_id: str, base: str, *, offset: int, limit: int) -> dict[str, Any]:
        ids = self._album_tracks[album_id]
        items = [self.simplified_track(t, base) for t in ids[offset : offset + limit]]
        return _paging(f"{base}/v1/albums/{album_id}/tracks", items, total=len(ids), offset=offset, limit=limit)


def _paging(href: str, items: list[Any], *, total: int, offset: int, limit: int) -> dict[str, Any]:
    # spotipy follows `next` as given: it must name this server, not api.spotify.com.
    next_url = f"{href}?offset={offset + limit}&limit={limit}" if offset + limit < total else None
    previous = f"{href}?offset={max(0, offset - limit)}&limit={limit}" if offset > 0 else None
    return {
        "href": f"{href}?offset={offset}&limit={limit}",
        "items": items,
        "limit": limit,
        "next": next_url,
        "offset": offset,
        "previous": previous,
        "total": total,
    }


# --- State ----------------------------------------------------------------------------------


@dataclass
class Fault:
    status: int | None
    retry_after: float | None = None
    times: int | None = None
    latency: float | None = None


@dataclass
class _AccessToken:
    client_id: str
    user_id: str | None
    expires_at: float


@dataclass
class _RefreshToken:
    user_id: str
    authorized_at: float
    revoked: bool = False


@dataclass
class _Playlist:
    id: str
    owner_id: str
    name: str
    description: str
    public: bool
    collaborative: bool
    uris: list[str] = field(default_factory=list)
    snapshot_id: str = ""
    followers: set[str] = field(default_factory=set)


class _Reply(Exception):
    """Ends a request with this status and body (raised anywhere inside a handler)."""

    def __init__(self, status: int, body: Any = None, headers: dict[str, str] | None = None) -> None:
        super().__init__(status)
        self.status = status
        self.body = body
        self.headers = headers or {}


def _api_error(status: int, message: str) -> _Reply:
    return _Reply(status, {"error": {"status": status, "message": message}})


def _to_epoch(value: datetime | float | None) -> float:
    if value is None:
        return _now()
    if isinstance(value, datetime):
        return value.timestamp()
    return float(value)


class SpotifyEmulator:
    """State and HTTP server of one emulator. Thread-safe: one lock guards all state."""

    def __init__(self, *, seed: int = 42, host: str = "127.0.0.1", port: int = 0) -> None:
        self.catalog = Catalog(seed)
        self.seed = seed
        self._lock = threading.RLock()
        self._host = host
        self._server = ThreadingHTTPServer((host, port), _Handler)
        self._server.daemon_threads = True
        self._server.emulator = self  # type: ignore[attr-defined]
        self._thread: threading.Thread | None = None
        self._app_modes: dict[str, str] = {}
        self._app_secrets: dict[str, str] = {}
        self._reset_state()

    # Lifecycle ---------------------------------------------------------------------------
    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        return f"http://{self._host}:{self.port}"

    @property
    def api_url(self) -> str:
        return f"{self.url}/v1/"

    @property
    def accounts_url(self) -> str:
        return f"{self.url}/"

    def start(self) -> SpotifyEmulator:
        """Serve from a daemon thread (tests)."""
        self._thread = threading.Thread(target=self._server.serve_forever, name="spotify-emulator", daemon=True)
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        self._server.serve_forever()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        if self._thread:
            self._thread.join(timeout=5)

    # Control -------------------------------------------------------------------------------
    def _reset_state(self) -> None:
        with self._lock:
            self._counts: Counter[str] = Counter()
            self._faults: dict[str, list[Fault]] = {}
            self._users: dict[str, dict[str, Any]] = {}
            self._refresh_tokens: dict[str, _RefreshToken] = {}
            self._access_tokens: dict[str, _AccessToken] = {}
            self._playlists: dict[str, _Playlist] = {}
            self._audio_features_enabled = True
            self._rate_limits: dict[str, tuple[int, float]] = {}
            self._request_times: dict[str, deque[float]] = {}
            self._rotate_refresh_tokens = False
            self._app_modes = {}
            self._app_secrets = {}

    def reset(self) -> None:
        """Forget faults, counters, users, tokens, playlists and app modes; the catalog stays."""
        self._reset_state()

    def counts(self) -> dict[str, int]:
        with self._lock:
            return dict(self._counts)

    def count(self, endpoint: str) -> int:
        with self._lock:
            return self._counts.get(endpoint, 0)

    def reset_counts(self) -> None:
        with self._lock:
            self._counts.clear()

    def fault(
        self,
        endpoint: str,
        *,
        status: int | None,
        retry_after: float | None = None,
        times: int | None = None,
        latency: float | None = None,
    ) -> None:
        """Make `endpoint` ("*" for all) answer `status` (None: only the latency) for the
        next `times` requests (None: until cleared). Faults on one endpoint queue in order."""
        if endpoint != "*" and endpoint not in ENDPOINTS:
            raise ValueError(f"unknown endpoint {endpoint!r}; one of {', '.join(ENDPOINTS)}")
        with self._lock:
            self._faults.setdefault(endpoint, []).append(Fault(status, retry_after, times, latency))

    def clear_faults(self) -> None:
        with self._lock:
            self._faults.clear()

    def register_app(self, client_id: str, client_secret: str, mode: str = "extended") -> None:
        """Optional: with a registered secret the token endpoint checks it (else any secret goes)."""
        self.set_app_mode(client_id, mode)
        with self._lock:
            self._app_secrets[client_id] = client_secret

    def set_app_mode(self, client_id: str, mode: str) -> None:
        if mode not in ("development", "extended"):
            raise ValueError("mode is 'development' or 'extended'")
        with self._lock:
            self._app_modes[client_id] = mode

    def app_mode(self, client_id: str) -> str:
        with self._lock:
            return self._app_modes.get(client_id, "extended")

    def set_audio_features_enabled(self, enabled: bool) -> None:
        """False: audio features answer 403, as for apps registered after Nov 2024."""
        with self._lock:
            self._audio_features_enabled = bool(enabled)

    def set_rate_limit(self, client_id: str, max_requests: int | None, *, window_seconds: float = 30.0) -> None:
        """Spotify's own limit: at most `max_requests` Web API calls per app (`client_id`,
        "*" for each app) over a rolling window; beyond it 429 with Retry-After. None removes it."""
        with self._lock:
            if max_requests is None:
                self._rate_limits.pop(client_id, None)
            else:
                self._rate_limits[client_id] = (int(max_requests), float(window_seconds))
            self._request_times.clear()

    def _enforce_rate_limit(self, client_id: str) -> None:
        with self._lock:
            limit = self._rate_limits.get(client_id) or self._rate_limits.get("*")
            if limit is None:
                return
            max_requests, window = limit
            now = _now()
            times = self._request_times.setdefault(client_id, deque())
            while times and times[0] <= now - window:
                times.popleft()
            if len(times) >= max_requests:
                retry_after = max(1, math.ceil(times[0] + window - now))
                reply = _api_error(429, "API rate limit exceeded")
                reply.headers = {"Retry-After": str(retry_after)}
                raise reply
            times.append(now)

    def set_rotate_refresh_tokens(self, enabled: bool) -> None:
        """True: every refresh returns a new refresh token and revokes the old one."""
        with self._lock:
            self._rotate_refresh_tokens = bool(enabled)

    def create_user(
        self,
        user_id: str,
        *,
        display_name: str | None = None,
        authorized_at: datetime | float | None = None,
        client_id: str | None = None,
    ) -> dict[str, Any]:
        """A user who authorized the app at `authorized_at` (default now): their tokens."""
        with self._lock:
            self._users[user_id] = {"id": user_id, "display_name": display_name or user_id}
            refresh_token = "r-" + secrets.token_urlsafe(24)
            self._refresh_tokens[refresh_token] = _RefreshToken(user_id, _to_epoch(authorized_at))
            access_token = self._issue_access_token(client_id or "emulator-user-app", user_id)
        return {
            "user_id": user_id,
            "display_name": display_name or user_id,
            "refresh_token": refresh_token,
            "access_token": access_token,
            "expires_in": ACCESS_TOKEN_LIFETIME,
            "scope": "playlist-modify-private playlist-modify-public playlist-read-private",
        }

    def revoke(self, refresh_token: str) -> None:
        with self._lock:
            if refresh_token in self._refresh_tokens:
                self._refresh_tokens[refresh_token].revoked = True

    def expire_access_tokens(self) -> None:
        with self._lock:
            for token in self._access_tokens.values():
                token.expires_at = 0

    def playlists_of(self, user_id: str) -> list[dict[str, Any]]:
        """Playlists the user owns and still follows, oldest first."""
        with self._lock:
            return [self._playlist_view(p) for p in self._playlists.values() if p.owner_id == user_id and user_id in p.followers]

    def playlist(self, playlist_id: str) -> dict[str, Any] | None:
        with self._lock:
            found = self._playlists.get(playlist_id)
            return self._playlist_view(found) if found else None

    def _playlist_view(self, playlist: _Playlist) -> dict[str, Any]:
        return {
            "id": playlist.id,
            "owner_id": playlist.owner_id,
            "name": playlist.name,
            "description": playlist.description,
            "public": playlist.public,
            "uris": list(playlist.uris),
            "snapshot_id": playlist.snapshot_id,
            "followed": playlist.owner_id in playlist.followers,
        }

    # Request machinery ----------------------------------------------------------------------
    def _issue_access_token(self, client_id: str, user_id: str | None) -> str:
        token = "a-" + secrets.token_urlsafe(24)
        self._access_tokens[token] = _AccessToken(client_id, user_id, _now() + ACCESS_TOKEN_LIFETIME)
        return token

    def _take_fault(self, endpoint: str) -> Fault | None:
        with self._lock:
            for name in (endpoint, "*"):
                queue = self._faults.get(name)
                if not queue:
                    continue
                fault = queue[0]
                if fault.times is not None:
                    fault.times -= 1
                    if fault.times <= 0:
                        queue.pop(0)
                return fault
        return None

    def handle(
        self, method: str, path: str, query: dict[str, list[str]], headers: dict[str, str], body: bytes, base: str
    ) -> _Reply:
        path = path.rstrip("/") or "/"
        if path.startswith("/_emulator/"):
            return self._control(method, path, query, body)
        endpoint, args = "", cast(tuple[str, ...], ())
        for route_method, pattern, name in _ROUTES:
            match = pattern.match(path)
            if match and route_method in (method, "*"):
                endpoint, args = name, match.groups()
                break
        if not endpoint:
            with self._lock:
                self._counts["unknown"] += 1
            return _api_error(404, "Service not found")
        with self._lock:
            self._counts[endpoint] += 1
        fault = self._take_fault(endpoint)
        if fault and fault.latency:
            time.sleep(fault.latency)
        if fault and fault.status and fault.status >= 300:
            return self._fault_reply(endpoint, fault)
        try:
            if endpoint == "token":
                return self._token(headers, body)
            if endpoint == "playlist_tracks_legacy":
                raise _api_error(403, "Forbidden: use /v1/playlists/{id}/items")
            token = self._authorize(headers)
            self._enforce_rate_limit(token.client_id)
            handler = getattr(self, f"_ep_{endpoint}")
            return handler(token, query, body, base, *args)
        except _Reply as reply:
            return reply

    def _fault_reply(self, endpoint: str, fault: Fault) -> _Reply:
        status = int(fault.status or 500)
        headers: dict[str, str] = {}
        if fault.retry_after is not None:
            value = fault.retry_after
            headers["Retry-After"] = str(int(value)) if float(value).is_integer() else str(value)
        if endpoint == "token":
            error = {400: "invalid_grant", 401: "invalid_client"}.get(status, "server_error")
            description = "Refresh token revoked" if error == "invalid_grant" else f"Injected fault {status}"
            return _Reply(status, {"error": error, "error_description": description}, headers)
        messages = {401: "The access token expired", 429: "API rate limit exceeded", 403: "Forbidden"}
        reply = _api_error(status, messages.get(status, f"Injected fault {status}"))
        reply.headers = headers
        return reply

    def _authorize(self, headers: dict[str, str]) -> _AccessToken:
        value = headers.get("authorization", "")
        if not value.lower().startswith("bearer "):
            raise _api_error(401, "No token provided")
        with self._lock:
            token = self._access_tokens.get(value[7:].strip())
        if token is None:
            raise _api_error(401, "Invalid access token")
        if token.expires_at <= _now():
            raise _api_error(401, "The access token expired")
        return token

    @staticmethod
    def _user(token: _AccessToken) -> str:
        if token.user_id is None:
            raise _api_error(401, "Valid user authentication required")
        return token.user_id

    # Token endpoint ---------------------------------------------------------------------------
    def _token(self, headers: dict[str, str], body: bytes) -> _Reply:
        form = {k: v[0] for k, v in parse_qs(body.decode("utf-8", "replace")).items()}
        client_id, client_secret = form.get("client_id", ""), form.get("client_secret", "")
        auth = headers.get("authorization", "")
        if auth.lower().startswith("basic "):
            try:
                client_id, _, client_secret = base64.b64decode(auth[6:]).decode().partition(":")
            except ValueError:
                client_id = ""
        if not client_id or not client_secret:
            raise _Reply(400, {"error": "invalid_client", "error_description": "Invalid client"})
        with self._lock:
            expected = self._app_secrets.get(client_id)
        if expected is not None and expected != client_secret:
            raise _Reply(400, {"error": "invalid_client", "error_description": "Invalid client secret"})
        grant_type = form.get("grant_type", "")
        if grant_type == "client_credentials":
            with self._lock:
                access = self._issue_access_token(client_id, None)
            return _Reply(200, {"access_token": access, "token_type": "Bearer", "expires_in": ACCESS_TOKEN_LIFETIME})
        if grant_type != "refresh_token":
            raise _Reply(
                400,
                {
                    "error": "unsupported_grant_type",
                    "error_description": "grant_type must be client_credentials or refresh_token",
                },
            )
        refresh_token = form.get("refresh_token", "")
        with self._lock:
            stored = self._refresh_tokens.get(refresh_token)
            if stored is None:
                raise _Reply(400, {"error": "invalid_grant", "error_description": "Invalid refresh token"})
            if stored.revoked:
                raise _Reply(400, {"error": "invalid_grant", "error_description": "Refresh token revoked"})
            if _now() - stored.authorized_at > REFRESH_TOKEN_LIFETIME.total_seconds():
                raise _Reply(400, {"error": "invalid_grant", "error_description": "Refresh token expired"})
            access = self._issue_access_token(client_id, stored.user_id)
            body_out: dict[str, Any] = {
                "access_token": access,
                "token_type": "Bearer",
                "expires_in": ACCESS_TOKEN_LIFETIME,
                "scope": "playlist-modify-private playlist-modify-public playlist-read-private",
            }
            if self._rotate_refresh_tokens:
                new_refresh = "r-" + secrets.token_urlsafe(24)
                self._refresh_tokens[new_refresh] = _RefreshToken(stored.user_id, stored.authorized_at)
                stored.revoked = True
                body_out["refresh_token"] = new_refresh
        return _Reply(200, body_out)

    # Web API endpoints ---------------------------------------------------------------------------
    def _ep_me(self, token: _AccessToken, query: dict[str, list[str]], body: bytes, base: str) -> _Reply:
        user_id = self._user(token)
        with self._lock:
            user = dict(self._users.get(user_id, {"id": user_id, "display_name": user_id}))
        user.update(
            {
                "type": "user",
                "uri": f"spotify:user:{user_id}",
                "country": "SE",
                "product": "premium",
                "followers": {"href": None, "total": 0},
                "images": [],
                "href": f"{base}/v1/users/{user_id}",
                "external_urls": {"spotify": f"https://open.spotify.com/user/{user_id}"},
            }
        )
        return _Reply(200, user)

    def _ep_browse_new_releases(self, token: _AccessToken, query: dict[str, list[str]], body: bytes, base: str) -> _Reply:
        offset, limit = _page_args(query, default_limit=20, max_limit=MAX_PAGE)
        ids = self.catalog.album_ids()
        items = [self.catalog.simplified_album(a, base) for a in ids[offset : offset + limit]]
        return _Reply(
            200,
            {"albums": _paging(f"{base}/v1/browse/new-releases", items, total=len(ids), offset=offset, limit=limit)},
        )

    def _refuse_in_development_mode(self, token: _AccessToken) -> None:
        if self.app_mode(token.client_id) == "development":
            raise _api_error(403, "Forbidden: endpoint not available to apps in development mode")

    def _ep_albums(self, token: _AccessToken, query: dict[str, list[str]], body: bytes, base: str) -> _Reply:
        ids = _ids(query)
        if len(ids) > MAX_SEVERAL_ALBUMS:
            raise _api_error(400, f"Too many ids requested (max {MAX_SEVERAL_ALBUMS})")
        self._refuse_in_development_mode(token)
        albums = [self.catalog.full_album(a, base) if self.catalog.has_album(a) else None for a in ids]
        return _Reply(200, {"albums": albums})

    def _ep_album(self, token: _AccessToken, query: dict[str, list[str]], body: bytes, base: str, album_id: str) -> _Reply:
        if not self.catalog.has_album(album_id):
            raise _api_error(404, "Resource not found")
        return _Reply(200, self.catalog.full_album(album_id, base))

    def _ep_album_tracks(self, token: _AccessToken, query: dict[str, list[str]], body: bytes, base: str, album_id: str) -> _Reply:
        offset, limit = _page_args(query, default_limit=20, max_limit=MAX_ALBUM_TRACKS_PAGE)
        if not self.catalog.has_album(album_id):
            raise _api_error(404, "Resource not found")
        return _Reply(200, self.catalog.album_tracks_page(album_id, base, offset=offset, limit=limit))

    def _ep_audio_features(self, token: _AccessToken, query: dict[str, list[str]], body: bytes, base: str) -> _Reply:
        ids = _ids(query)
        if len(ids) > MAX_AUDIO_FEATURES:
            raise _api_error(400, f"Too many ids requested (max {MAX_AUDIO_FEATURES})")
        with self._lock:
            enabled = self._audio_features_enabled
        if not enabled:
            raise _api_error(403, "Forbidden: audio features are not available to this app")
        self._refuse_in_development_mode(token)
        return _Reply(200, {"audio_features": [self.catalog.features(t) for t in ids]})

    def _ep_me_playlists(self, token: _AccessToken, query: dict[str, list[str]], body: bytes, base: str) -> _Reply:
        user_id = self._user(token)
        offset, limit = _page_args(query, default_limit=20, max_limit=MAX_PAGE)
        with self._lock:
            mine = [p for p in self._playlists.values() if user_id in p.followers]
            items = [self._simplified_playlist(p, base) for p in mine[offset : offset + limit]]
        return _Reply(200, _paging(f"{base}/v1/me/playlists", items, total=len(mine), offset=offset, limit=limit))

    def _ep_create_playlist(self, token: _AccessToken, query: dict[str, list[str]], body: bytes, base: str) -> _Reply:
        user_id = self._user(token)
        data = _json(body)
        if not isinstance(data, dict) or not isinstance(data.get("name"), str) or not data["name"].strip():
            raise _api_error(400, "Missing required field: name")
        with self._lock:
            playlist = _Playlist(
                id=secrets.token_hex(11),
                owner_id=user_id,
                name=data["name"],
                description=str(data.get("description") or ""),
                public=bool(data.get("public", True)),
                collaborative=bool(data.get("collaborative", False)),
                snapshot_id=secrets.token_hex(16),
                followers={user_id},
            )
            self._playlists[playlist.id] = playlist
            return _Reply(201, self._full_playlist(playlist, base))

    def _owned_playlist(self, token: _AccessToken, playlist_id: str) -> _Playlist:
        user_id = self._user(token)
        playlist = self._playlists.get(playlist_id)
        if playlist is None:
            raise _api_error(404, "Not found.")
        if playlist.owner_id != user_id:
            raise _api_error(403, "You cannot modify a playlist you don't own.")
        return playlist

    def _ep_playlist_get(
        self, token: _AccessToken, query: dict[str, list[str]], body: bytes, base: str, playlist_id: str
    ) -> _Reply:
        with self._lock:
            playlist = self._playlists.get(playlist_id)
            if playlist is None:
                raise _api_error(404, "Not found.")
            return _Reply(200, self._full_playlist(playlist, base))

    def _ep_playlist_details(
        self, token: _AccessToken, query: dict[str, list[str]], body: bytes, base: str, playlist_id: str
    ) -> _Reply:
        data = _json(body)
        if not isinstance(data, dict):
            raise _api_error(400, "Error parsing JSON.")
        with self._lock:
            playlist = self._owned_playlist(token, playlist_id)
            if "name" in data:
                playlist.name = str(data["name"])
            if "description" in data:
                playlist.description = str(data["description"])
            if "public" in data:
                playlist.public = bool(data["public"])
        return _Reply(200, None)

    def _ep_playlist_items_get(
        self, token: _AccessToken, query: dict[str, list[str]], body: bytes, base: str, playlist_id: str
    ) -> _Reply:
        offset, limit = _page_args(query, default_limit=50, max_limit=MAX_PAGE)
        with self._lock:
            playlist = self._playlists.get(playlist_id)
            if playlist is None:
                raise _api_error(404, "Not found.")
            return _Reply(200, self._items_page(playlist, base, offset=offset, limit=limit))

    def _write_uris(self, query: dict[str, list[str]], body: bytes) -> list[str]:
        data = _json(body) if body.strip() else None
        if isinstance(data, dict) and "uris" in data:
            uris = data["uris"]
        elif isinstance(data, list):
            uris = data
        elif "uris" in query:
            uris = [u for u in query["uris"][0].split(",") if u]
        else:
            uris = []
        if not isinstance(uris, list) or not all(isinstance(u, str) for u in uris):
            raise _api_error(400, "uris must be a list of strings")
        if len(uris) > MAX_PLAYLIST_ITEMS_WRITE:
            raise _api_error(400, f"Too many items (max {MAX_PLAYLIST_ITEMS_WRITE})")
        bad = [u for u in uris if not _TRACK_URI.match(u)]
        if bad:
            raise _api_error(400, f"Invalid track uri: {bad[0]}")
        return uris

    def _ep_playlist_items_put(
        self, token: _AccessToken, query: dict[str, list[str]], body: bytes, base: str, playlist_id: str
    ) -> _Reply:
        uris = self._write_uris(query, body)
        with self._lock:
            playlist = self._owned_playlist(token, playlist_id)
            playlist.uris = list(uris)
            playlist.snapshot_id = secrets.token_hex(16)
            return _Reply(200, {"snapshot_id": playlist.snapshot_id})

    def _ep_playlist_items_post(
        self, token: _AccessToken, query: dict[str, list[str]], body: bytes, base: str, playlist_id: str
    ) -> _Reply:
        uris = self._write_uris(query, body)
        data = _json(body) if body.strip() else None
        position = data.get("position") if isinstance(data, dict) else None
        if position is None and "position" in query:
            position = int(query["position"][0])
        with self._lock:
            playlist = self._owned_playlist(token, playlist_id)
            if position is None:
                playlist.uris.extend(uris)
            else:
                playlist.uris[int(position) : int(position)] = uris
            playlist.snapshot_id = secrets.token_hex(16)
            return _Reply(201, {"snapshot_id": playlist.snapshot_id})

    def _ep_playlist_unfollow(
        self, token: _AccessToken, query: dict[str, list[str]], body: bytes, base: str, playlist_id: str
    ) -> _Reply:
        user_id = self._user(token)
        with self._lock:
            playlist = self._playlists.get(playlist_id)
            if playlist is None:
                raise _api_error(404, "Not found.")
            playlist.followers.discard(user_id)
        return _Reply(200, None)

    def _simplified_playlist(self, playlist: _Playlist, base: str) -> dict[str, Any]:
        with self._lock:
            owner_name = self._users.get(playlist.owner_id, {}).get("display_name", playlist.owner_id)
        href = f"{base}/v1/playlists/{playlist.id}"
        return {
            "id": playlist.id,
            "name": playlist.name,
            "description": playlist.description,
            "public": playlist.public,
            "collaborative": playlist.collaborative,
            "type": "playlist",
            "uri": f"spotify:playlist:{playlist.id}",
            "href": href,
            "snapshot_id": playlist.snapshot_id,
            "owner": {
                "id": playlist.owner_id,
                "display_name": owner_name,
                "type": "user",
                "uri": f"spotify:user:{playlist.owner_id}",
            },
            "items": {"href": f"{href}/items", "total": len(playlist.uris)},
            "tracks": {"href": f"{href}/items", "total": len(playlist.uris)},
            "images": [],
            "external_urls": {"spotify": f"https://open.spotify.com/playlist/{playlist.id}"},
        }

    def _items_page(self, playlist: _Playlist, base: str, *, offset: int, limit: int) -> dict[str, Any]:
        items = []
        for uri in playlist.uris[offset : offset + limit]:
            track_id = uri.rsplit(":", 1)[1]
            track = self.catalog.full_track(track_id, base) or {
                "id": track_id,
                "uri": uri,
                "type": "track",
                "name": None,
            }
            items.append({"added_at": "2026-01-01T00:00:00Z", "is_local": False, "track": track, "item": track})
        return _paging(f"{base}/v1/playlists/{playlist.id}/items", items, total=len(playlist.uris), offset=offset, limit=limit)

    def _full_playlist(self, playlist: _Playlist, base: str) -> dict[str, Any]:
        result = self._simplified_playlist(playlist, base)
        page = self._items_page(playlist, base, offset=0, limit=100)
        result["items"] = page
        result["tracks"] = page
        result["followers"] = {"href": None, "total": len(playlist.followers)}
        return result

    # Control API over HTTP ----------------------------------------------------------------------
    def _control(self, method: str, path: str, query: dict[str, list[str]], body: bytes) -> _Reply:
        data = _json(body) if body.strip() else {}
        if not isinstance(data, dict):
            return _Reply(400, {"error": "JSON object expected"})
        name = path[len("/_emulator/") :]
        try:
            if method == "GET" and name == "counts":
                return _Reply(200, self.counts())
            if method == "GET" and name == "albums":
                return _Reply(200, {"album_ids": self.catalog.album_ids()})
            if method == "GET" and name == "playlists":
                return _Reply(200, {"playlists": self.playlists_of(query.get("user_id", [""])[0])})
            if method == "GET" and name.startswith("playlists/"):
                found = self.playlist(name.split("/", 1)[1])
                return _Reply(200 if found else 404, found)
            if method != "POST":
                return _Reply(404, {"error": "unknown control"})
            if name == "reset":
                self.reset()
            elif name == "reset_counts":
                self.reset_counts()
            elif name == "fault":
                self.fault(
                    data["endpoint"],
                    status=data.get("status"),
                    retry_after=data.get("retry_after"),
                    times=data.get("times"),
                    latency=data.get("latency"),
                )
            elif name == "clear_faults":
                self.clear_faults()
            elif name == "users":
                return _Reply(
                    201,
                    self.create_user(
                        data["user_id"],
                        display_name=data.get("display_name"),
                        authorized_at=data.get("authorized_at"),
                        client_id=data.get("client_id"),
                    ),
                )
            elif name == "revoke":
                self.revoke(data["refresh_token"])
            elif name == "expire_access_tokens":
                self.expire_access_tokens()
            elif name == "app_mode":
                self.set_app_mode(data["client_id"], data["mode"])
            elif name == "register_app":
                self.register_app(data["client_id"], data["client_secret"], data.get("mode", "extended"))
            elif name == "audio_features":
                self.set_audio_features_enabled(bool(data["enabled"]))
            elif name == "rate_limit":
                self.set_rate_limit(
                    data["client_id"], data.get("max_requests"), window_seconds=float(data.get("window_seconds", 30.0))
                )
            elif name == "rotate_refresh_tokens":
                self.set_rotate_refresh_tokens(bool(data["enabled"]))
            else:
                return _Reply(404, {"error": "unknown control"})
        except (KeyError, ValueError, TypeError) as exc:
            return _Reply(400, {"error": f"bad control request: {exc}"})
        return _Reply(200, {"ok": True})


def _json(body: bytes) -> Any:
    try:
        return json.loads(body.decode("utf-8")) if body else None
    except ValueError:
        raise _api_error(400, "Error parsing JSON.") from None


def _ids(query: dict[str, list[str]]) -> list[str]:
    raw = query.get("ids", [""])[0]
    ids = [i for i in raw.split(",") if i]
    if not ids:
        raise _api_error(400, "invalid id")
    return ids


def _page_args(query: dict[str, list[str]], *, default_limit: int, max_limit: int) -> tuple[int, int]:
    try:
        offset = int(query.get("offset", ["0"])[0])
        limit = int(query.get("limit", [str(default_limit)])[0])
    except ValueError:
        raise _api_error(400, "Invalid limit or offset") from None
    if offset < 0 or not 1 <= limit <= max_limit:
        raise _api_error(400, f"Invalid limit (1..{max_limit})")
    return offset, limit


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "SpotifyEmulator/1"

    def log_message(self, format: str, *args: Any) -> None:
        # Quiet: request lines would carry nothing the counters do not.
        pass

    def _dispatch(self) -> None:
        emulator: SpotifyEmulator = self.server.emulator  # type: ignore[attr-defined]
        parts = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        headers = {k.lower(): v for k, v in self.headers.items()}
        host = self.headers.get("Host") or emulator.url.removeprefix("http://")
        try:
            reply = emulator.handle(self.command, parts.path, parse_qs(parts.query), headers, body, f"http://{host}")
        except Exception as exc:  # noqa: BLE001 - the emulator's own bug: answer 500 rather than hang the client
            reply = _api_error(500, f"emulator error: {type(exc).__name__}: {exc}")
        payload = b"" if reply.body is None else json.dumps(reply.body).encode()
        try:
            self.send_response(reply.status)
            if payload:
                self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("Content-Length", str(len(payload)))
            for name, value in reply.headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(payload)
        except (BrokenPipeError, ConnectionResetError):
            # The client timed out (a latency fault) and went away.
            self.close_connection = True

    do_GET = do_POST = do_PUT = do_DELETE = _dispatch


class EmulatorRemote:
    """The control API of an emulator running in another process, as Python methods."""

    def __init__(self, url: str) -> None:
        self.url = url.rstrip("/")
        self.api_url = f"{self.url}/v1/"
        self.accounts_url = f"{self.url}/"

    def _call(self, method: str, name: str, data: dict[str, Any] | None = None) -> Any:
        request = urllib.request.Request(
            f"{self.url}/_emulator/{name}",
            data=json.dumps(data).encode() if data is not None else None,
            method=method,
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            return json.loads(response.read() or b"null")

    def reset(self) -> None:
        self._call("POST", "reset", {})

    def counts(self) -> dict[str, int]:
        return dict(self._call("GET", "counts"))

    def count(self, endpoint: str) -> int:
        return int(self.counts().get(endpoint, 0))

    def fault(
        self,
        endpoint: str,
        *,
        status: int | None,
        retry_after: float | None = None,
        times: int | None = None,
        latency: float | None = None,
    ) -> None:
        self._call(
            "POST",
            "fault",
            {"endpoint": endpoint, "status": status, "retry_after": retry_after, "times": times, "latency": latency},
        )

    def clear_faults(self) -> None:
        self._call("POST", "clear_faults", {})

    def create_user(
        self,
        user_id: str,
        *,
        display_name: str | None = None,
        authorized_at: datetime | float | None = None,
        client_id: str | None = None,
    ) -> dict[str, Any]:
        return dict(
            self._call(
                "POST",
                "users",
                {
                    "user_id": user_id,
                    "display_name": display_name,
                    "authorized_at": _to_epoch(authorized_at) if authorized_at is not None else None,
                    "client_id": client_id,
                },
            )
        )

    def revoke(self, refresh_token: str) -> None:
        self._call("POST", "revoke", {"refresh_token": refresh_token})

    def expire_access_tokens(self) -> None:
        self._call("POST", "expire_access_tokens", {})

    def set_app_mode(self, client_id: str, mode: str) -> None:
        self._call("POST", "app_mode", {"client_id": client_id, "mode": mode})

    def set_audio_features_enabled(self, enabled: bool) -> None:
        self._call("POST", "audio_features", {"enabled": enabled})

    def set_rate_limit(self, client_id: str, max_requests: int | None, *, window_seconds: float = 30.0) -> None:
        self._call(
            "POST",
            "rate_limit",
            {"client_id": client_id, "max_requests": max_requests, "window_seconds": window_seconds},
        )

    def playlists_of(self, user_id: str) -> list[dict[str, Any]]:
        return list(self._call("GET", f"playlists?user_id={user_id}")["playlists"])

    def album_ids(self) -> list[str]:
        return list(self._call("GET", "albums")["album_ids"])
