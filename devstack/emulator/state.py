"""The emulator's state behind one lock: faults, counters, apps, users, tokens and playlists."""

from __future__ import annotations

import math
import secrets
import threading
import time
from collections import Counter, deque
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from devstack.emulator.catalog import Catalog

ACCESS_TOKEN_LIFETIME = 3600
# Spotify refresh tokens die six months after the user authorized the app.
REFRESH_TOKEN_LIFETIME = timedelta(days=182)

# The Web API routes (webapi.ROUTES) by name, as counted and as faults name them.
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
    "playlist_follow",
    "me_playlists",
    "library_remove",
    "library_save",
    "library_contains",
    "tracks",
    "playlist_tracks_legacy",
)
APP_MODES = ("development", "extended")
# The app of the access token `create_user` hands out when it names none.
USER_APP = "emulator-user-app"
# Spotify's own limit on /me/library calls (save, remove, contains).
MAX_LIBRARY_URIS = 40


def now() -> float:
    return time.time()


@dataclass
class Fault:
    status: int | None
    retry_after: float | None = None
    times: int | None = None
    latency: float | None = None
    # Epoch seconds after which the fault is gone, used up or not (None: until used up or cleared).
    until: float | None = None


@dataclass
class AccessToken:
    client_id: str
    user_id: str | None
    expires_at: float


@dataclass
class RefreshToken:
    user_id: str
    authorized_at: float
    revoked: bool = False
    # Set when issued by the Authorization Code flow: only that client may refresh it.
    client_id: str | None = None
    scope: str = ""
    public: bool = False  # issued to a PKCE client: it may refresh with client_id alone


@dataclass
class AuthorizationCode:
    """What GET /authorize granted, waiting for its one exchange at /api/token."""

    client_id: str
    user_id: str
    redirect_uri: str
    scope: str
    code_challenge: str
    expires_at: float
    used: bool = False
    refresh_token: str | None = None  # issued from this code: revoked if the code is replayed


@dataclass
class PlaylistItem:
    uri: str
    added_by: str  # the user id of the add (or replace) call: Spotify answers it as `added_by`


@dataclass
class Playlist:
    id: str
    owner_id: str
    name: str
    description: str
    public: bool
    collaborative: bool
    items: list[PlaylistItem] = field(default_factory=list)
    snapshot_id: str = ""
    followers: set[str] = field(default_factory=set)

    @property
    def uris(self) -> list[str]:
        return [item.uri for item in self.items]


class Reply(Exception):
    """Ends a request with this status and body (raised anywhere inside a handler)."""

    def __init__(self, status: int, body: Any = None, headers: dict[str, str] | None = None) -> None:
        super().__init__(status)
        self.status = status
        self.body = body
        self.headers = headers or {}


def api_error(status: int, message: str) -> Reply:
    return Reply(status, {"error": {"status": status, "message": message}})


def to_epoch(value: datetime | float | None) -> float:
    if value is None:
        return now()
    if isinstance(value, datetime):
        return value.timestamp()
    return float(value)


class EmulatorState:
    """Everything an emulator remembers besides its catalog. Thread-safe: one lock guards all state.

    Its public methods are the control operations (control.Controls serves them over HTTP)."""

    def __init__(self, *, seed: int = 42) -> None:
        self.catalog = Catalog(seed)
        self.seed = seed
        self._lock = threading.RLock()
        self._app_modes: dict[str, str] = {}
        self._app_secrets: dict[str, str] = {}
        self._app_redirect_uris: dict[str, list[str]] = {}
        self._reset_state()

    def _reset_state(self) -> None:
        with self._lock:
            self._counts: Counter[str] = Counter()
            self._faults: dict[str, list[Fault]] = {}
            self._users: dict[str, dict[str, Any]] = {}
            self._refresh_tokens: dict[str, RefreshToken] = {}
            self._access_tokens: dict[str, AccessToken] = {}
            self._playlists: dict[str, Playlist] = {}
            self._audio_features_enabled = True
            # Every Web API answer waits this long: Spotify is ~100 ms away, not on loopback.
            self._latency = 0.0
            self._rate_limits: dict[str, tuple[int, float]] = {}
            self._request_times: dict[str, deque[float]] = {}
            self._rotate_refresh_tokens = False
            self._app_modes = {}
            # Apps registered after 27 Nov 2024 get 403 on audio features unless granted.
            self._audio_features_granted: set[str] = set()
            self._app_secrets = {}
            self._app_redirect_uris = {}
            # Users who authorized each app, in order: a Development Mode app admits the first five.
            self._app_users: dict[str, list[str]] = {}
            self._authorization_codes: dict[str, AuthorizationCode] = {}

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
        seconds: float | None = None,
    ) -> None:
        """Make `endpoint` ("*" for all) answer `status` (None: only the latency) for the
        next `times` requests (None: until cleared), for at most `seconds` from now (None: no
        end). Faults on one endpoint queue in order."""
        if endpoint != "*" and endpoint not in ENDPOINTS:
            raise ValueError(f"unknown endpoint {endpoint!r}; one of {', '.join(ENDPOINTS)}")
        until = now() + float(seconds) if seconds is not None else None
        with self._lock:
            self._faults.setdefault(endpoint, []).append(Fault(status, retry_after, times, latency, until))

    def clear_faults(self) -> None:
        with self._lock:
            self._faults.clear()

    def set_latency(self, seconds: float) -> None:
        """Every Web API request waits `seconds` before it is answered (faults' latency adds to it)."""
        value = float(seconds)
        if not 0 <= value <= 60:
            raise ValueError("latency is 0..60 seconds")
        with self._lock:
            self._latency = value

    def latency(self) -> float:
        with self._lock:
            return self._latency

    def register_app(
        self, client_id: str, client_secret: str, mode: str = "extended", redirect_uris: list[str] | None = None
    ) -> None:
        """As in Spotify's Developer Dashboard: the app's secret (the token endpoint then checks
        it; an unregistered client's secret goes unchecked), its mode and its redirect URIs
        (GET /authorize serves only registered apps and exact registered redirect URIs)."""
        if redirect_uris is not None and (
            not isinstance(redirect_uris, list) or not all(isinstance(uri, str) and uri for uri in redirect_uris)
        ):
            raise ValueError("redirect_uris is a list of URIs")
        self.set_app_mode(client_id, mode)
        with self._lock:
            self._app_secrets[client_id] = client_secret
            self._app_redirect_uris[client_id] = list(redirect_uris or [])

    def app_users(self, client_id: str) -> list[str]:
        """Users who authorized the app, in order (a Development Mode app admits the first five)."""
        with self._lock:
            return list(self._app_users.get(client_id, []))

    def _add_app_user(self, client_id: str, user_id: str) -> None:
        users = self._app_users.setdefault(client_id, [])
        if user_id not in users:
            users.append(user_id)

    def set_app_mode(self, client_id: str, mode: str) -> None:
        if mode not in APP_MODES:
            raise ValueError("mode is 'development' or 'extended'")
        with self._lock:
            self._app_modes[client_id] = mode

    def app_mode(self, client_id: str) -> str:
        """An app nobody registered is what a new app is in 2026: a Development Mode app
        registered after 27 Nov 2024 (no audio features unless granted)."""
        with self._lock:
            return self._app_modes.get(client_id, "development")

    def grant_audio_features(self, client_id: str, granted: bool = True) -> None:
        """Mark the app as one Spotify still serves audio features (registered before 27 Nov
        2024, or granted since); every other app gets 403 there."""
        with self._lock:
            if granted:
                self._audio_features_granted.add(client_id)
            else:
                self._audio_features_granted.discard(client_id)

    def audio_features_granted(self, client_id: str) -> bool:
        with self._lock:
            return client_id in self._audio_features_granted and self._audio_features_enabled

    def set_audio_features_enabled(self, enabled: bool) -> None:
        """False: audio features answer 403 to every app, even a granted one."""
        with self._lock:
            self._audio_features_enabled = bool(enabled)

    def set_rate_limit(self, client_id: str, max_requests: int | None, *, window_seconds: float = 30.0) -> None:
        """Spotify's own limit: at most `max_requests` Web API calls per app (`client_id`,
        "*" for each app) over a rolling window; beyond it 429 with Retry-After. None removes it."""
        window = float(window_seconds)
        with self._lock:
            if max_requests is None:
                self._rate_limits.pop(client_id, None)
            else:
                self._rate_limits[client_id] = (int(max_requests), window)
            self._request_times.clear()

    def _enforce_rate_limit(self, client_id: str) -> None:
        with self._lock:
            limit = self._rate_limits.get(client_id) or self._rate_limits.get("*")
            if limit is None:
                return
            max_requests, window = limit
            current = now()
            times = self._request_times.setdefault(client_id, deque())
            while times and times[0] <= current - window:
                times.popleft()
            if len(times) >= max_requests:
                retry_after = max(1, math.ceil(times[0] + window - current))
                reply = api_error(429, "API rate limit exceeded")
                reply.headers = {"Retry-After": str(retry_after)}
                raise reply
            times.append(current)

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
            self._add_app_user(client_id or USER_APP, user_id)
            refresh_token = "r-" + secrets.token_urlsafe(24)
            self._refresh_tokens[refresh_token] = RefreshToken(user_id, to_epoch(authorized_at))
            access_token = self._issue_access_token(client_id or USER_APP, user_id)
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

    def revoke_user(self, user_id: str) -> int:
        """What a user does on their account page ("remove access"): every refresh token of theirs
        is revoked (invalid_grant from then on) and their access tokens stop working (401).
        Returns how many refresh tokens were revoked."""
        with self._lock:
            revoked = 0
            for token in self._refresh_tokens.values():
                if token.user_id == user_id and not token.revoked:
                    token.revoked = True
                    revoked += 1
            for access in self._access_tokens.values():
                if access.user_id == user_id:
                    access.expires_at = 0
            return revoked

    def expire_access_tokens(self) -> None:
        with self._lock:
            for token in self._access_tokens.values():
                token.expires_at = 0

    def album_ids(self) -> list[str]:
        return self.catalog.album_ids()

    def playlists_of(self, user_id: str) -> list[dict[str, Any]]:
        """Playlists the user owns and still follows, oldest first."""
        with self._lock:
            return [self._playlist_view(p) for p in self._playlists.values() if p.owner_id == user_id and user_id in p.followers]

    def edit_playlist(
        self,
        playlist_id: str,
        name: str | None = None,
        description: str | None = None,
        uris: list[str] | None = None,
        followed: bool | None = None,
        deleted: bool = False,
    ) -> None:
        """What the owner does in Spotify's own app: rename, edit the items (a new snapshot_id),
        unfollow ("delete" in the app; the playlist stays readable) or, `deleted`, a playlist
        gone for good (404 from then on)."""
        with self._lock:
            playlist = self._playlists.get(playlist_id)
            if playlist is None:
                raise ValueError(f"no playlist {playlist_id!r}")
            if deleted:
                del self._playlists[playlist_id]
                return
            if name is not None:
                playlist.name = str(name)
            if description is not None:
                playlist.description = str(description)
            if uris is not None:
                if not isinstance(uris, list) or not all(isinstance(u, str) for u in uris):
                    raise ValueError("uris is a list of URIs")
                playlist.items = [PlaylistItem(uri, playlist.owner_id) for uri in uris]
                playlist.snapshot_id = secrets.token_hex(16)
            if followed is True:
                playlist.followers.add(playlist.owner_id)
            elif followed is False:
                playlist.followers.discard(playlist.owner_id)

    def playlists(self) -> list[dict[str, Any]]:
        """Every playlist the emulator holds, followed by its owner or not, oldest first."""
        with self._lock:
            return [self._playlist_view(p) for p in self._playlists.values()]

    def playlist(self, playlist_id: str) -> dict[str, Any] | None:
        with self._lock:
            found = self._playlists.get(playlist_id)
            return self._playlist_view(found) if found else None

    def _playlist_view(self, playlist: Playlist) -> dict[str, Any]:
        return {
            "id": playlist.id,
            "owner_id": playlist.owner_id,
            "name": playlist.name,
            "description": playlist.description,
            "public": playlist.public,
            "uris": playlist.uris,
            "snapshot_id": playlist.snapshot_id,
            "followed": playlist.owner_id in playlist.followers,
        }

    # Request machinery ----------------------------------------------------------------------
    def _issue_access_token(self, client_id: str, user_id: str | None) -> str:
        token = "a-" + secrets.token_urlsafe(24)
        self._access_tokens[token] = AccessToken(client_id, user_id, now() + ACCESS_TOKEN_LIFETIME)
        return token

    def _take_fault(self, endpoint: str) -> Fault | None:
        with self._lock:
            for name in (endpoint, "*"):
                queue = self._faults.get(name)
                while queue and queue[0].until is not None and queue[0].until <= now():
                    queue.pop(0)
                if not queue:
                    continue
                fault = queue[0]
                if fault.times is not None:
                    fault.times -= 1
                    if fault.times <= 0:
                        queue.pop(0)
                return fault
        return None
