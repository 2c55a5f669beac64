"""The one Spotify Web API client: spotipy underneath, our policy around every call.

Every call: token buckets (app, then account) → circuit breaker → spotipy over a plain
requests.Session (no urllib3 Retry: spotipy's own retries sleep out Retry-After, and with
retries=0 it reports exhausted 5xx as header-less 429s) → our retries of 429, 5xx and
connection errors with exponential backoff and full jitter, at most SPOTIFY_MAX_ATTEMPTS,
honouring Retry-After up to SPOTIFY_MAX_SLEEP_SECONDS and parking the work beyond it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from functools import partial
from typing import Any, TypeVar

import requests
import spotipy
from django.conf import settings
from spotipy.exceptions import SpotifyException

from core.counters import counter_inc
from spotify.breaker import breaker_check, breaker_failure, breaker_release_probe, breaker_success
from spotify.config import LimitsLookup, OperationLimits, default_limits
from spotify.errors import (
    CircuitOpen,
    SpotifyAppRefused,
    SpotifyAuthError,
    SpotifyBadRequest,
    SpotifyError,
    SpotifyForbidden,
    SpotifyNotFound,
    SpotifyRateLimited,
    SpotifyServerError,
)
from spotify.ratelimit import bucket_block, bucket_take
from spotify.retry import backoff_seconds, pause, retry_after_seconds
from spotify.telemetry import telemetry_record

T = TypeVar("T")
logger = logging.getLogger("spotify")

MAX_SEVERAL_ALBUMS = 20
MAX_PAGE = 50
MAX_AUDIO_FEATURES = 100
MAX_PLAYLIST_ITEMS_WRITE = 100
MAX_LIBRARY_URIS = 40

# Endpoint (request counters, emulator names) → operation (breaker and telemetry family).
OPERATIONS = {
    "me": "me",
    "albums": "albums",
    "album": "albums",
    "album_tracks": "album_tracks",
    "audio_features": "audio_features",
    "browse_new_releases": "browse",
    "create_playlist": "playlists",
    "playlist_details": "playlists",
    "playlist_items_put": "playlists",
    "playlist_items_post": "playlists",
    "playlist_items_get": "playlists",
    "playlist_get": "playlists",
    "playlist_unfollow": "playlists",
    "me_playlists": "playlists",
    "library_remove": "playlists",
    "library_contains": "playlists",
}

# A POST that timed out or got a 5xx may have been applied: retrying it here could create a
# second playlist or add items twice. These fail at once; the task's retry reconciles (a
# playlist is found by its description marker, items are replaced whole by a PUT).
NON_IDEMPOTENT = frozenset({"create_playlist", "playlist_items_post"})


def _never_sent(exc: requests.RequestException) -> bool:
    """Only a connection that was never made proves Spotify did not get the request."""
    if isinstance(exc, requests.ConnectTimeout):
        return True
    return isinstance(exc, requests.ConnectionError) and "NewConnectionError" in repr(exc.args)


TokenProvider = Callable[[bool], str]
CapabilityCallback = Callable[[str, bool], None]


def _spotify_message(exc: SpotifyException) -> str:
    # spotipy's msg is "<url>:\n <message>"; keep Spotify's message, drop the URL.
    return str(exc.msg).split("\n", 1)[-1].strip()[:300]


class SpotifyClient:
    """One app (and optionally one account) talking to the Web API.

    `token_provider(force_refresh)` returns an access token; on a 401 the client calls it
    once with True and retries. `capabilities` are what the app is known to lack
    ({"several_albums": False}); what the client learns from 403s it reports through
    `on_capability(name, value)` and keeps in `self.capabilities` for the caller to persist
    on SpotifyApp.capabilities. `limits(breaker_name)` gives each operation's timeout,
    attempts and breaker cooldown at call time (settings when not given).
    """

    def __init__(
        self,
        *,
        app_key: str,
        token_provider: TokenProvider,
        account_key: str | None = None,
        source: str = "spotify",
        capabilities: Mapping[str, bool] | None = None,
        on_capability: CapabilityCallback | None = None,
        limits: LimitsLookup | None = None,
    ) -> None:
        self.app_key = app_key
        self.account_key = account_key
        self.source = source
        self.capabilities: dict[str, bool] = dict(capabilities or {})
        self.learned: dict[str, bool] = {}
        # Spotify's snapshot_id after this client's last playlist write (create, items).
        self.last_snapshot_id: str | None = None
        self._token_provider = token_provider
        self._on_capability = on_capability
        self._limits = limits
        # A plain session: no urllib3 Retry mounted, so every 429/5xx reaches our loop intact.
        self._spotify = spotipy.Spotify(
            auth=None,
            requests_session=requests.Session(),
            retries=0,
            status_retries=0,
            requests_timeout=settings.SPOTIFY_REQUEST_TIMEOUT,
        )

    def __repr__(self) -> str:
        return f"SpotifyClient(app_key={self.app_key!r}, account_key={self.account_key!r})"

    # Capabilities ----------------------------------------------------------------------------
    def can(self, capability: str) -> bool:
        return self.capabilities.get(capability, True)

    def _learn(self, capability: str, value: bool) -> None:
        if self.capabilities.get(capability) == value:
            return
        self.capabilities[capability] = value
        self.learned[capability] = value
        counter_inc("spotify_capabilities_learned_total", capability=capability, value=str(value).lower())
        if self._on_capability:
            self._on_capability(capability, value)

    # Call policy ---------------------------------------------------------------------------------
    def _access_token(self, *, force: bool) -> str:
        # Asked on every call, not cached here: the provider refreshes just in time and
        # caches on its side (account row, process memory).
        return self._token_provider(force)

    def _take_buckets(self, endpoint: str) -> None:
        bucket_take("app", self.app_key, endpoint=endpoint)
        if self.account_key:
            bucket_take("account", self.account_key, endpoint=endpoint)

    def _call(self, endpoint: str, send: Callable[[spotipy.Spotify], T]) -> T:
        operation = OPERATIONS[endpoint]
        breaker = f"{self.source}.{operation}"
        limits = self._limits(breaker) if self._limits else default_limits()
        telemetry_record(source=self.source, operation=operation, outcome="started")
        started = time.monotonic()
        try:
            breaker_check(breaker, endpoint=endpoint)
        except CircuitOpen as exc:
            telemetry_record(source=self.source, operation=operation, outcome="skipped", error=str(exc))
            raise
        try:
            result = self._attempts(endpoint, send, limits)
        except SpotifyServerError as exc:
            if breaker_failure(breaker, error=str(exc), base_cooldown=limits.cooldown_seconds):
                logger.warning("spotify circuit opened", extra={"breaker": breaker, "error": str(exc)})
            telemetry_record(
                source=self.source,
                operation=operation,
                outcome="failed",
                error=str(exc),
                latency_ms=(time.monotonic() - started) * 1000,
            )
            raise
        except SpotifyError as exc:
            answered = exc.endpoint == endpoint and exc.status is not None and exc.status != 429
            if answered:
                breaker_success(breaker)  # Spotify answered: the request, not the service, failed
            else:
                breaker_release_probe(breaker)
            parked = isinstance(exc, SpotifyRateLimited) and exc.status is None
            telemetry_record(
                source=self.source,
                operation=operation,
                outcome="skipped" if parked else "failed",
                error=str(exc),
                latency_ms=(time.monotonic() - started) * 1000,
            )
            raise
        except BaseException:
            breaker_release_probe(breaker)
            raise
        breaker_success(breaker)
        telemetry_record(
            source=self.source, operation=operation, outcome="succeeded", latency_ms=(time.monotonic() - started) * 1000
        )
        return result

    def _attempts(self, endpoint: str, send: Callable[[spotipy.Spotify], T], limits: OperationLimits) -> T:
        max_attempts = int(limits.max_attempts)
        ceiling = float(settings.SPOTIFY_MAX_SLEEP_SECONDS)
        token = self._access_token(force=False)
        refreshed = False
        attempt = 0
        while True:
            attempt += 1
            self._take_buckets(endpoint)
            self._spotify.set_auth(token)
            self._spotify.prefix = settings.SPOTIFY_API_URL
            self._spotify.requests_timeout = limits.timeout_seconds
            counter_inc("spotify_requests_total", endpoint=endpoint)
            try:
                return send(self._spotify)
            except SpotifyException as exc:
                status = int(exc.http_status)
                counter_inc("spotify_responses_total", endpoint=endpoint, status=str(status))
                message = f"{endpoint}: HTTP {status}: {_spotify_message(exc)}"
                if status == 401 and not refreshed:
                    # The token expired or was revoked between our expiry check and the call.
                    refreshed = True
                    counter_inc("spotify_retries_total", status="401")
                    token = self._access_token(force=True)
                    continue
                if status == 429:
                    retry_after = retry_after_seconds(exc.headers)
                    if retry_after is not None:
                        # Spotify's window is per app: every worker on this app waits.
                        bucket_block("app", self.app_key, retry_after)
                    wait = retry_after if retry_after is not None else backoff_seconds(attempt)
                    if (retry_after is not None and retry_after > ceiling) or attempt >= max_attempts:
                        raise SpotifyRateLimited(
                            f"{message} (retry after {wait:.1f}s)", retry_after=wait, status=429, endpoint=endpoint
                        ) from None
                    counter_inc("spotify_retries_total", status="429")
                    pause(wait, reason="429", endpoint=endpoint, attempt=attempt)
                    continue
                if status >= 500:
                    if attempt >= max_attempts or endpoint in NON_IDEMPOTENT:
                        raise SpotifyServerError(
                            f"{message} after {attempt} attempts", status=status, endpoint=endpoint
                        ) from None
                    counter_inc("spotify_retries_total", status=str(status))
                    pause(backoff_seconds(attempt), reason=str(status), endpoint=endpoint, attempt=attempt)
                    continue
                raise _client_error(status, message, endpoint) from None
            except requests.RequestException as exc:
                kind = "timeout" if isinstance(exc, requests.Timeout) else "connection"
                if attempt >= max_attempts or (endpoint in NON_IDEMPOTENT and not _never_sent(exc)):
                    raise SpotifyServerError(
                        f"{endpoint}: {kind} error after {attempt} attempts: {type(exc).__name__}", endpoint=endpoint
                    ) from None
                counter_inc("spotify_retries_total", status=kind)
                pause(backoff_seconds(attempt), reason=kind, endpoint=endpoint, attempt=attempt)

    # Web API reference methods ------------------------------------------------------------------
    def current_user(self) -> dict[str, Any]:
        """Get Current User's Profile: GET /v1/me."""
        return self._call("me", lambda sp: sp.current_user())

    def several_albums(self, ids: list[str]) -> list[dict[str, Any] | None]:
        """Get Several Albums: GET /v1/albums?ids= (≤20); None for unknown ids.

        Development Mode apps get 403 here. Only a 403 from this endpoint while Get Album
        (which every app may call) answers teaches "several_albums": False; the client then
        answers with Get Album calls, for this and every later call. When Get Album is refused
        too, the app is refused everywhere (its owner lost Premium, say): SpotifyAppRefused,
        and nothing is learned. A success reports "several_albums": True (the recheck of an
        app once refused: it may have been upgraded).
        """
        if len(ids) > MAX_SEVERAL_ALBUMS:
            raise ValueError(f"several_albums takes at most {MAX_SEVERAL_ALBUMS} ids, got {len(ids)}")
        if not ids:
            return []
        if not self.can("several_albums"):
            return [self._album_or_none(album_id) for album_id in ids]
        try:
            albums = list(self._call("albums", lambda sp: sp.albums(ids))["albums"])
        except SpotifyForbidden as refused:
            try:
                first = self._album_or_none(ids[0])
            except SpotifyForbidden as again:
                raise SpotifyAppRefused(f"403 on every call: {refused}; then {again}", status=403, endpoint="album") from None
            self._learn("several_albums", False)
            return [first, *(self._album_or_none(album_id) for album_id in ids[1:])]
        if self.capabilities.get("several_albums") is not True:
            self._learn("several_albums", True)
        return albums

    def _album_or_none(self, album_id: str) -> dict[str, Any] | None:
        try:
            return self.album(album_id)
        except (SpotifyNotFound, SpotifyBadRequest):
            return None

    def album(self, album_id: str) -> dict[str, Any]:
        """Get Album: GET /v1/albums/{id} (its first 50 tracks included)."""
        return self._call("album", lambda sp: sp.album(album_id))

    def album_tracks(self, album_id: str, *, offset: int = 0, limit: int = MAX_PAGE) -> dict[str, Any]:
        """Get Album Tracks: GET /v1/albums/{id}/tracks, a paging object (limit ≤50)."""
        _check_page(limit)
        return self._call("album_tracks", lambda sp: sp.album_tracks(album_id, limit=limit, offset=offset))

    def audio_features(self, ids: list[str]) -> list[dict[str, Any] | None]:
        """Get Several Tracks' Audio Features: GET /v1/audio-features?ids= (≤100).

        Refused (403) to apps registered after Nov 2024 and to Development Mode apps: the
        client learns "audio_features": False, raises SpotifyForbidden, and this client does
        not ask again. A persisted False does not stop the call: features have no other
        path, so when to probe again (an app may be upgraded) is the caller's policy; a
        success then reports "audio_features": True.
        """
        if len(ids) > MAX_AUDIO_FEATURES:
            raise ValueError(f"audio_features takes at most {MAX_AUDIO_FEATURES} ids, got {len(ids)}")
        if not ids:
            return []
        if self.learned.get("audio_features") is False:
            raise SpotifyForbidden(
                "audio_features: not available to this app (learned from an earlier 403)",
                status=403,
                endpoint="audio_features",
            )
        try:
            # _get directly: spotipy's audio_features() warns about deprecation on every call.
            result = self._call("audio_features", lambda sp: sp._get("audio-features", ids=",".join(ids)))
        except SpotifyForbidden:
            self._learn("audio_features", False)
            raise
        if self.capabilities.get("audio_features") is False:
            self._learn("audio_features", True)
        return list(result["audio_features"])

    def new_releases(self, *, offset: int = 0, limit: int = MAX_PAGE) -> dict[str, Any]:
        """Get New Releases: GET /v1/browse/new-releases → {"albums": paging object}."""
        _check_page(limit)
        return self._call("browse_new_releases", lambda sp: sp._get("browse/new-releases", limit=limit, offset=offset))

    def create_playlist(self, *, name: str, description: str, public: bool = False) -> dict[str, Any]:
        """Create Playlist: POST /v1/me/playlists (the 2026 path)."""
        created = self._call(
            "create_playlist",
            lambda sp: sp.current_user_playlist_create(name, public=public, description=description),
        )
        self.last_snapshot_id = created.get("snapshot_id") or None
        return created

    def change_playlist_details(self, playlist_id: str, *, name: str | None = None, description: str | None = None) -> None:
        """Change Playlist Details: PUT /v1/playlists/{id}."""
        self._call("playlist_details", lambda sp: sp.playlist_change_details(playlist_id, name=name, description=description))

    def replace_playlist_items(self, playlist_id: str, uris: list[str]) -> int:
        """Update Playlist Items (PUT /v1/playlists/{id}/items) with the first 100 URIs, then
        Add Items (POST, same path) by 100. Returns the calls made (retries not counted);
        `last_snapshot_id` is then the playlist's snapshot_id after the last of them."""
        first, *rest = items_write_chunks(len(uris))
        answer = self._call("playlist_items_put", lambda sp: sp.playlist_replace_items(playlist_id, uris[slice(*first)]))
        self.last_snapshot_id = (answer or {}).get("snapshot_id") or None
        for start, end in rest:
            answer = self._call("playlist_items_post", partial(_add_items, playlist_id=playlist_id, uris=uris[start:end]))
            self.last_snapshot_id = (answer or {}).get("snapshot_id") or None
        return 1 + len(rest)

    def playlist_item_uris(self, playlist_id: str) -> list[str]:
        """Get Playlist Items: GET /v1/playlists/{id}/items, every page (following `next`)."""
        page: dict[str, Any] | None = self._call(
            "playlist_items_get",
            lambda sp: sp.playlist_items(playlist_id, limit=MAX_PAGE, additional_types=("track",)),
        )
        uris: list[str] = []
        while page:
            for item in page["items"]:
                track = item.get("track") or item.get("item")
                if track and track.get("uri"):
                    uris.append(track["uri"])
            if not page.get("next"):
                break
            page = self._call("playlist_items_get", partial(_next_page, page=page))
        return uris

    def get_playlist(self, playlist_id: str, *, fields: str | None = None) -> dict[str, Any]:
        """Get Playlist: GET /v1/playlists/{id} (`fields`: e.g. "snapshot_id,name,description")."""
        return self._call("playlist_get", lambda sp: sp.playlist(playlist_id, fields=fields))

    def current_user_playlists(self, *, offset: int = 0, limit: int = MAX_PAGE) -> dict[str, Any]:
        """Get Current User's Playlists: GET /v1/me/playlists, a paging object."""
        _check_page(limit)
        return self._call("me_playlists", lambda sp: sp.current_user_playlists(limit=limit, offset=offset))

    def remove_playlists_from_library(self, playlist_ids: list[str]) -> int:
        """Remove Items from Library: DELETE /v1/me/library?uris=spotify:playlist:... by 40
        (the owner's "delete"; it replaces the deprecated DELETE /playlists/{id}/followers,
        which Development Mode apps are refused). Returns the calls made."""
        uris = [f"spotify:playlist:{playlist_id}" for playlist_id in playlist_ids]
        spans = library_chunks(len(uris))
        for start, end in spans:
            chunk = ",".join(uris[start:end])
            self._call("library_remove", partial(_library_call, method="_delete", path="me/library", uris=chunk))
        return len(spans)

    def library_contains_playlists(self, playlist_ids: list[str]) -> list[bool]:
        """Check User's Saved Items: GET /v1/me/library/contains?uris=... by 40; for a
        playlist, whether the user still follows it (its owner "deleted" it when not)."""
        uris = [f"spotify:playlist:{playlist_id}" for playlist_id in playlist_ids]
        answer: list[bool] = []
        for start, end in library_chunks(len(uris)):
            chunk = ",".join(uris[start:end])
            found = self._call("library_contains", partial(_library_call, method="_get", path="me/library/contains", uris=chunk))
            answer.extend(bool(value) for value in found)
        return answer


def items_write_chunks(count: int) -> list[tuple[int, int]]:
    """The (start, end) of each call that writes `count` items to a playlist: one replace, then
    adds of MAX_PLAYLIST_ITEMS_WRITE. What replace_playlist_items sends and what a preview counts."""
    return [(0, min(count, MAX_PLAYLIST_ITEMS_WRITE))] + [
        (start, min(start + MAX_PLAYLIST_ITEMS_WRITE, count))
        for start in range(MAX_PLAYLIST_ITEMS_WRITE, count, MAX_PLAYLIST_ITEMS_WRITE)
    ]


def items_read_calls(count: int) -> int:
    """Calls playlist_item_uris makes to read `count` items: pages of MAX_PAGE, at least one."""
    return max(1, -(-count // MAX_PAGE))


def library_chunks(count: int) -> list[tuple[int, int]]:
    """The (start, end) of each library call (remove or contains) on `count` playlists: by
    MAX_LIBRARY_URIS. What the client sends and what a preview counts."""
    return [(start, min(start + MAX_LIBRARY_URIS, count)) for start in range(0, count, MAX_LIBRARY_URIS)]


def _add_items(sp: spotipy.Spotify, *, playlist_id: str, uris: list[str]) -> Any:
    return sp.playlist_add_items(playlist_id, uris)


def _library_call(sp: spotipy.Spotify, *, method: str, path: str, uris: str) -> Any:
    # spotipy 2.26 has no method for /me/library with playlist URIs.
    return getattr(sp, method)(path, uris=uris)


def _next_page(sp: spotipy.Spotify, *, page: dict[str, Any]) -> Any:
    # spotipy follows `next` as Spotify (or the emulator) wrote it.
    return sp.next(page)


def _check_page(limit: int) -> None:
    if not 1 <= limit <= MAX_PAGE:
        raise ValueError(f"limit must be 1..{MAX_PAGE}, got {limit}")


def _client_error(status: int, message: str, endpoint: str) -> SpotifyError:
    if status == 400:
        return SpotifyBadRequest(message, status=status, endpoint=endpoint)
    if status == 401:
        return SpotifyAuthError(message, status=status, endpoint=endpoint)
    if status == 403:
        return SpotifyForbidden(message, status=status, endpoint=endpoint)
    if status == 404:
        return SpotifyNotFound(message, status=status, endpoint=endpoint)
    return SpotifyError(message, status=status, endpoint=endpoint)
