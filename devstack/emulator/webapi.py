"""The emulator's Web API: routes, the token endpoint and the endpoint handlers."""

from __future__ import annotations

import base64
import html
import json
import math
import re
import secrets
import time
from typing import Any, cast
from urllib.parse import parse_qs

from devstack.emulator.catalog import MAX_ALBUM_TRACKS_PAGE, paging
from devstack.emulator.state import (
    ACCESS_TOKEN_LIFETIME,
    MAX_LIBRARY_URIS,
    REFRESH_TOKEN_LIFETIME,
    AccessToken,
    EmulatorState,
    Fault,
    Playlist,
    PlaylistItem,
    RefreshToken,
    Reply,
    api_error,
    now,
)

MAX_SEVERAL_ALBUMS = 20
MAX_AUDIO_FEATURES = 100
MAX_PLAYLIST_ITEMS_WRITE = 100
MAX_PAGE = 50

_TRACK_URI = re.compile(r"^spotify:track:[0-9A-Za-z]{22}$")
_LIBRARY_URI = re.compile(r"^spotify:(track|album|episode|show|audiobook|artist|user|playlist):([0-9A-Za-z]+)$")
# What the Get Playlist object embeds: one items page of this size.
EMBEDDED_ITEMS_PAGE = 100
_ID = r"([0-9A-Za-z]+)"
ROUTES: list[tuple[str, re.Pattern[str], str]] = [
    ("POST", re.compile(r"^/api/token$"), "token"),
    ("GET", re.compile(r"^/v1/me$"), "me"),
    ("GET", re.compile(r"^/v1/me/playlists$"), "me_playlists"),
    ("DELETE", re.compile(r"^/v1/me/library$"), "library_remove"),
    ("PUT", re.compile(r"^/v1/me/library$"), "library_save"),
    ("GET", re.compile(r"^/v1/me/library/contains$"), "library_contains"),
    ("GET", re.compile(r"^/v1/tracks$"), "tracks"),
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
    # Deprecated (→ /me/library); refused to Development Mode apps since February 2026.
    ("DELETE", re.compile(rf"^/v1/playlists/{_ID}/followers$"), "playlist_unfollow"),
    ("PUT", re.compile(rf"^/v1/playlists/{_ID}/followers$"), "playlist_follow"),
    # The pre-2026 path: Spotify answers 403 on every method.
    ("*", re.compile(rf"^/v1/playlists/{_ID}/tracks$"), "playlist_tracks_legacy"),
]


class WebAPI(EmulatorState):
    """The Web API endpoints over the emulator's state: `handle_api` routes, counts, injects faults, answers."""

    def handle_api(
        self, method: str, path: str, query: dict[str, list[str]], headers: dict[str, str], body: bytes, base: str
    ) -> Reply:
        """Answer one Web API request (`path` without a trailing slash)."""
        endpoint, args = "", cast(tuple[str, ...], ())
        for route_method, pattern, name in ROUTES:
            match = pattern.match(path)
            if match and route_method in (method, "*"):
                endpoint, args = name, match.groups()
                break
        if not endpoint:
            with self._lock:
                self._counts["unknown"] += 1
            if any(pattern.match(path) for _, pattern, _ in ROUTES):
                return api_error(405, "Method not allowed")
            return api_error(404, "Service not found")
        with self._lock:
            self._counts[endpoint] += 1
        fault = self._take_fault(endpoint)
        delay = self.latency() + (fault.latency if fault and fault.latency else 0.0)
        if delay:
            time.sleep(delay)
        if fault and fault.status and fault.status >= 300:
            return self._fault_reply(endpoint, fault)
        try:
            if endpoint == "token":
                return self._token(headers, body)
            if endpoint == "playlist_tracks_legacy":
                raise api_error(403, "Forbidden: use /v1/playlists/{id}/items")
            token = self._authorize(headers)
            self._enforce_rate_limit(token.client_id)
            handler = getattr(self, f"_ep_{endpoint}")
            return handler(token, query, body, base, *args)
        except Reply as reply:
            return reply

    def _fault_reply(self, endpoint: str, fault: Fault) -> Reply:
        status = int(fault.status or 500)
        headers: dict[str, str] = {}
        if fault.retry_after is not None:
            # Spotify sends whole seconds.
            headers["Retry-After"] = str(max(0, math.ceil(float(fault.retry_after))))
        if endpoint == "token":
            error = {400: "invalid_grant", 401: "invalid_client"}.get(status, "server_error")
            description = "Refresh token revoked" if error == "invalid_grant" else f"Injected fault {status}"
            return Reply(status, {"error": error, "error_description": description}, headers)
        messages = {401: "The access token expired", 429: "API rate limit exceeded", 403: "Forbidden"}
        reply = api_error(status, messages.get(status, f"Injected fault {status}"))
        reply.headers = headers
        return reply

    def _authorize(self, headers: dict[str, str]) -> AccessToken:
        value = headers.get("authorization", "")
        if not value.lower().startswith("bearer "):
            raise api_error(401, "No token provided")
        with self._lock:
            token = self._access_tokens.get(value[7:].strip())
        if token is None:
            raise api_error(401, "Invalid access token")
        if token.expires_at <= now():
            raise api_error(401, "The access token expired")
        return token

    @staticmethod
    def _user(token: AccessToken) -> str:
        if token.user_id is None:
            raise api_error(401, "Valid user authentication required")
        return token.user_id

    # Token endpoint ---------------------------------------------------------------------------
    def _token(self, headers: dict[str, str], body: bytes) -> Reply:
        form = {k: v[0] for k, v in parse_qs(body.decode("utf-8", "replace")).items()}
        client_id, client_secret = client_credentials(headers, form)
        if not client_id or not client_secret:
            raise Reply(400, {"error": "invalid_client", "error_description": "Invalid client"})
        with self._lock:
            expected = self._app_secrets.get(client_id)
        if expected is not None and expected != client_secret:
            raise Reply(400, {"error": "invalid_client", "error_description": "Invalid client secret"})
        grant_type = form.get("grant_type", "")
        if grant_type == "client_credentials":
            with self._lock:
                access = self._issue_access_token(client_id, None)
            return Reply(200, {"access_token": access, "token_type": "Bearer", "expires_in": ACCESS_TOKEN_LIFETIME})
        if grant_type != "refresh_token":
            raise Reply(
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
                raise Reply(400, {"error": "invalid_grant", "error_description": "Invalid refresh token"})
            if stored.revoked:
                raise Reply(400, {"error": "invalid_grant", "error_description": "Refresh token revoked"})
            if now() - stored.authorized_at > REFRESH_TOKEN_LIFETIME.total_seconds():
                raise Reply(400, {"error": "invalid_grant", "error_description": "Refresh token expired"})
            # Holding this app's refresh token means the user authorized the app (a user made
            # through the control API names no app until now): Development Mode's cap counts them.
            self._add_app_user(client_id, stored.user_id)
            access = self._issue_access_token(client_id, stored.user_id)
            body_out: dict[str, Any] = {
                "access_token": access,
                "token_type": "Bearer",
                "expires_in": ACCESS_TOKEN_LIFETIME,
                "scope": "playlist-modify-private playlist-modify-public playlist-read-private",
            }
            if self._rotate_refresh_tokens:
                new_refresh = "r-" + secrets.token_urlsafe(24)
                self._refresh_tokens[new_refresh] = RefreshToken(stored.user_id, stored.authorized_at)
                stored.revoked = True
                body_out["refresh_token"] = new_refresh
        return Reply(200, body_out)

    # Web API endpoints ---------------------------------------------------------------------------
    def _ep_me(self, token: AccessToken, query: dict[str, list[str]], body: bytes, base: str) -> Reply:
        user_id = self._user(token)
        with self._lock:
            user = dict(self._users.get(user_id, {"id": user_id, "display_name": user_id}))
        user.update(public_user(user_id, base), images=[])
        if self._extended(token):
            # Removed for Development Mode apps in February 2026.
            user.update(
                {
                    "country": "SE",
                    "email": f"{user_id}@example.com",
                    "explicit_content": {"filter_enabled": False, "filter_locked": False},
                    "followers": {"href": None, "total": 0},
                    "product": "premium",
                }
            )
        return Reply(200, user)

    def _ep_browse_new_releases(self, token: AccessToken, query: dict[str, list[str]], body: bytes, base: str) -> Reply:
        offset, limit = _page_args(query, default_limit=20, max_limit=MAX_PAGE)
        self._refuse_in_development_mode(token)
        ids = self.catalog.album_ids()
        items = [self.catalog.simplified_album(a, base) for a in ids[offset : offset + limit]]
        return Reply(
            200,
            {"albums": paging(f"{base}/v1/browse/new-releases", items, total=len(ids), offset=offset, limit=limit)},
        )

    def _extended(self, token: AccessToken) -> bool:
        return self.app_mode(token.client_id) == "extended"

    def _refuse_in_development_mode(self, token: AccessToken) -> None:
        if not self._extended(token):
            raise api_error(403, "Forbidden: endpoint not available to apps in development mode")

    def _ep_albums(self, token: AccessToken, query: dict[str, list[str]], body: bytes, base: str) -> Reply:
        ids = _ids(query)
        if len(ids) > MAX_SEVERAL_ALBUMS:
            raise api_error(400, f"Too many ids requested (max {MAX_SEVERAL_ALBUMS})")
        self._refuse_in_development_mode(token)
        albums = [self.catalog.full_album(a, base) if self.catalog.has_album(a) else None for a in ids]
        return Reply(200, {"albums": albums})

    def _ep_tracks(self, token: AccessToken, query: dict[str, list[str]], body: bytes, base: str) -> Reply:
        ids = _ids(query)
        if len(ids) > MAX_PAGE:
            raise api_error(400, f"Too many ids requested (max {MAX_PAGE})")
        self._refuse_in_development_mode(token)
        return Reply(200, {"tracks": [self.catalog.full_track(t, base) for t in ids]})

    def _ep_album(self, token: AccessToken, query: dict[str, list[str]], body: bytes, base: str, album_id: str) -> Reply:
        if not self.catalog.has_album(album_id):
            raise api_error(404, "Resource not found")
        return Reply(200, self.catalog.full_album(album_id, base, extended=self._extended(token)))

    def _ep_album_tracks(self, token: AccessToken, query: dict[str, list[str]], body: bytes, base: str, album_id: str) -> Reply:
        offset, limit = _page_args(query, default_limit=20, max_limit=MAX_ALBUM_TRACKS_PAGE)
        if not self.catalog.has_album(album_id):
            raise api_error(404, "Resource not found")
        page = self.catalog.album_tracks_page(album_id, base, offset=offset, limit=limit, extended=self._extended(token))
        return Reply(200, page)

    def _ep_audio_features(self, token: AccessToken, query: dict[str, list[str]], body: bytes, base: str) -> Reply:
        ids = _ids(query)
        if len(ids) > MAX_AUDIO_FEATURES:
            raise api_error(400, f"Too many ids requested (max {MAX_AUDIO_FEATURES})")
        self._refuse_in_development_mode(token)
        if not self.audio_features_granted(token.client_id):
            raise api_error(403, "Forbidden: audio features are not available to this app")
        return Reply(200, {"audio_features": [self.catalog.features(t) for t in ids]})

    def _ep_me_playlists(self, token: AccessToken, query: dict[str, list[str]], body: bytes, base: str) -> Reply:
        user_id = self._user(token)
        offset, limit = _page_args(query, default_limit=20, max_limit=MAX_PAGE)
        with self._lock:
            mine = [p for p in self._playlists.values() if user_id in p.followers]
            items = [self._simplified_playlist(p, base, extended=self._extended(token)) for p in mine[offset : offset + limit]]
        return Reply(200, paging(f"{base}/v1/me/playlists", items, total=len(mine), offset=offset, limit=limit))

    def _ep_create_playlist(self, token: AccessToken, query: dict[str, list[str]], body: bytes, base: str) -> Reply:
        user_id = self._user(token)
        data = json_body(body)
        if not isinstance(data, dict) or not isinstance(data.get("name"), str) or not data["name"].strip():
            raise api_error(400, "Missing required field: name")
        with self._lock:
            playlist = Playlist(
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
            return Reply(201, self._full_playlist(playlist, base, extended=self._extended(token)))

    def _owned_playlist(self, token: AccessToken, playlist_id: str) -> Playlist:
        user_id = self._user(token)
        playlist = self._playlists.get(playlist_id)
        if playlist is None:
            raise api_error(404, "Not found.")
        if playlist.owner_id != user_id:
            raise api_error(403, "You cannot modify a playlist you don't own.")
        return playlist

    def _ep_playlist_get(
        self, token: AccessToken, query: dict[str, list[str]], body: bytes, base: str, playlist_id: str
    ) -> Reply:
        with self._lock:
            playlist = self._playlists.get(playlist_id)
            if playlist is None:
                raise api_error(404, "Not found.")
            answer = self._full_playlist(playlist, base, extended=self._extended(token))
        fields = [f.strip() for f in query.get("fields", [""])[0].split(",") if f.strip()]
        if fields:
            # Top-level field names only: all the console asks for.
            answer = {name: answer[name] for name in fields if name in answer}
        return Reply(200, answer)

    def _ep_playlist_details(
        self, token: AccessToken, query: dict[str, list[str]], body: bytes, base: str, playlist_id: str
    ) -> Reply:
        data = json_body(body)
        if not isinstance(data, dict):
            raise api_error(400, "Error parsing JSON.")
        with self._lock:
            playlist = self._owned_playlist(token, playlist_id)
            if "name" in data:
                playlist.name = str(data["name"])
            if "description" in data:
                playlist.description = str(data["description"])
            if "public" in data:
                playlist.public = bool(data["public"])
        return Reply(200, None)

    def _ep_playlist_items_get(
        self, token: AccessToken, query: dict[str, list[str]], body: bytes, base: str, playlist_id: str
    ) -> Reply:
        offset, limit = _page_args(query, default_limit=20, max_limit=MAX_PAGE)
        user_id = self._user(token)
        with self._lock:
            playlist = self._playlists.get(playlist_id)
            if playlist is None:
                raise api_error(404, "Not found.")
            if playlist.owner_id != user_id and not (playlist.collaborative and user_id in playlist.followers):
                raise api_error(403, "Forbidden")
            page = self._items_page(playlist, base, offset=offset, limit=limit, extended=self._extended(token))
        return Reply(200, page)

    def _write_uris(self, query: dict[str, list[str]], body: bytes) -> list[str]:
        data = json_body(body) if body.strip() else None
        if isinstance(data, dict) and "uris" in data:
            uris = data["uris"]
        elif isinstance(data, list):
            uris = data
        elif "uris" in query:
            uris = [u for u in query["uris"][0].split(",") if u]
        else:
            uris = []
        if not isinstance(uris, list) or not all(isinstance(u, str) for u in uris):
            raise api_error(400, "uris must be a list of strings")
        if len(uris) > MAX_PLAYLIST_ITEMS_WRITE:
            raise api_error(400, f"Too many items (max {MAX_PLAYLIST_ITEMS_WRITE})")
        bad = [u for u in uris if not _TRACK_URI.match(u)]
        if bad:
            raise api_error(400, f"Invalid track uri: {bad[0]}")
        return uris

    def _ep_playlist_items_put(
        self, token: AccessToken, query: dict[str, list[str]], body: bytes, base: str, playlist_id: str
    ) -> Reply:
        uris = self._write_uris(query, body)
        with self._lock:
            playlist = self._owned_playlist(token, playlist_id)
            user_id = self._user(token)
            playlist.items = [PlaylistItem(uri, user_id) for uri in uris]
            playlist.snapshot_id = secrets.token_hex(16)
            return Reply(200, {"snapshot_id": playlist.snapshot_id})

    def _ep_playlist_items_post(
        self, token: AccessToken, query: dict[str, list[str]], body: bytes, base: str, playlist_id: str
    ) -> Reply:
        uris = self._write_uris(query, body)
        data = json_body(body) if body.strip() else None
        position = data.get("position") if isinstance(data, dict) else None
        if position is None and "position" in query:
            try:
                position = int(query["position"][0])
            except ValueError:
                raise api_error(400, "Invalid position") from None
        if position is not None and (not isinstance(position, int) or isinstance(position, bool) or position < 0):
            raise api_error(400, "Invalid position")
        with self._lock:
            playlist = self._owned_playlist(token, playlist_id)
            if position is not None and position > len(playlist.items):
                raise api_error(400, "Index out of bounds")
            user_id = self._user(token)
            added = [PlaylistItem(uri, user_id) for uri in uris]
            if position is None:
                playlist.items.extend(added)
            else:
                playlist.items[int(position) : int(position)] = added
            playlist.snapshot_id = secrets.token_hex(16)
            return Reply(201, {"snapshot_id": playlist.snapshot_id})

    def _ep_playlist_unfollow(
        self, token: AccessToken, query: dict[str, list[str]], body: bytes, base: str, playlist_id: str
    ) -> Reply:
        return self._playlist_followers(token, playlist_id, follow=False)

    def _ep_playlist_follow(
        self, token: AccessToken, query: dict[str, list[str]], body: bytes, base: str, playlist_id: str
    ) -> Reply:
        return self._playlist_followers(token, playlist_id, follow=True)

    def _playlist_followers(self, token: AccessToken, playlist_id: str, *, follow: bool) -> Reply:
        user_id = self._user(token)
        self._refuse_in_development_mode(token)
        with self._lock:
            playlist = self._playlists.get(playlist_id)
            if playlist is None:
                raise api_error(404, "Not found.")
            (playlist.followers.add if follow else playlist.followers.discard)(user_id)
        return Reply(200, None)

    def _library_uris(self, query: dict[str, list[str]]) -> list[tuple[str, str]]:
        """(type, id) of the `uris` query parameter: Spotify URIs, at most 40."""
        uris = [u for u in query.get("uris", [""])[0].split(",") if u]
        if not uris:
            raise api_error(400, "Missing required parameter: uris")
        if len(uris) > MAX_LIBRARY_URIS:
            raise api_error(400, f"Too many uris requested (max {MAX_LIBRARY_URIS})")
        parsed = []
        for uri in uris:
            match = _LIBRARY_URI.match(uri)
            if match is None:
                raise api_error(400, f"Invalid uri: {uri}")
            parsed.append((match.group(1), match.group(2)))
        return parsed

    def _ep_library_remove(self, token: AccessToken, query: dict[str, list[str]], body: bytes, base: str) -> Reply:
        """Remove Items from Library: a playlist's URI unfollows it (what "delete" is for its owner).
        Unknown or not-saved items are no error: removing twice is fine."""
        return self._library_follow(token, query, follow=False)

    def _ep_library_save(self, token: AccessToken, query: dict[str, list[str]], body: bytes, base: str) -> Reply:
        return self._library_follow(token, query, follow=True)

    def _library_follow(self, token: AccessToken, query: dict[str, list[str]], *, follow: bool) -> Reply:
        user_id = self._user(token)
        items = self._library_uris(query)
        with self._lock:
            for kind, item_id in items:
                playlist = self._playlists.get(item_id) if kind == "playlist" else None
                if playlist is not None:
                    (playlist.followers.add if follow else playlist.followers.discard)(user_id)
        return Reply(200, None)

    def _ep_library_contains(self, token: AccessToken, query: dict[str, list[str]], body: bytes, base: str) -> Reply:
        user_id = self._user(token)
        items = self._library_uris(query)
        with self._lock:
            answer = [
                kind == "playlist" and item_id in self._playlists and user_id in self._playlists[item_id].followers
                for kind, item_id in items
            ]
        return Reply(200, answer)

    def _simplified_playlist(self, playlist: Playlist, base: str, *, extended: bool) -> dict[str, Any]:
        with self._lock:
            owner_name = self._users.get(playlist.owner_id, {}).get("display_name", playlist.owner_id)
        href = f"{base}/v1/playlists/{playlist.id}"
        result: dict[str, Any] = {
            "id": playlist.id,
            "name": playlist.name,
            # Spotify answers descriptions HTML-escaped.
            "description": html.escape(playlist.description),
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
            "images": [],
            "external_urls": {"spotify": f"https://open.spotify.com/playlist/{playlist.id}"},
            "primary_color": None,
        }
        # Renamed for Development Mode apps in February 2026 (`tracks` → `items`); extended
        # apps keep the old name.
        result["tracks" if extended else "items"] = {"href": f"{href}/items", "total": len(playlist.items)}
        return result

    def _items_page(self, playlist: Playlist, base: str, *, offset: int, limit: int, extended: bool) -> dict[str, Any]:
        items = []
        for item in playlist.items[offset : offset + limit]:
            track_id = item.uri.rsplit(":", 1)[1]
            track = self.catalog.full_track(track_id, base, extended=extended) or {
                "id": track_id,
                "uri": item.uri,
                "type": "track",
                "name": None,
            }
            # The entry's `track` is `item` for Development Mode apps since February 2026.
            entry_key = "track" if extended else "item"
            items.append(
                {
                    "added_at": "2026-01-01T00:00:00Z",
                    "added_by": public_user(item.added_by, base),
                    "is_local": False,
                    entry_key: track,
                }
            )
        return paging(
            f"{base}/v1/playlists/{playlist.id}/items",
            items,
            total=len(playlist.items),
            offset=offset,
            limit=limit,
            next_limit=min(limit, MAX_PAGE),
        )

    def _full_playlist(self, playlist: Playlist, base: str, *, extended: bool) -> dict[str, Any]:
        result = self._simplified_playlist(playlist, base, extended=extended)
        page = self._items_page(playlist, base, offset=0, limit=EMBEDDED_ITEMS_PAGE, extended=extended)
        result["tracks" if extended else "items"] = page
        result["followers"] = {"href": None, "total": len(playlist.followers)}
        return result


def public_user(user_id: str, base: str) -> dict[str, Any]:
    """A user as a playlist item's `added_by` names them (PlaylistUserObject): no display name,
    no images. Get Current User's Profile answers these fields and more."""
    return {
        "external_urls": {"spotify": f"https://open.spotify.com/user/{user_id}"},
        "href": f"{base}/v1/users/{user_id}",
        "id": user_id,
        "type": "user",
        "uri": f"spotify:user:{user_id}",
    }


def client_credentials(headers: dict[str, str], form: dict[str, str]) -> tuple[str, str]:
    """The client id and secret of a token request: HTTP Basic, else the form's fields."""
    client_id, client_secret = form.get("client_id", ""), form.get("client_secret", "")
    auth = headers.get("authorization", "")
    if auth.lower().startswith("basic "):
        try:
            client_id, _, client_secret = base64.b64decode(auth[6:]).decode().partition(":")
        except ValueError:
            client_id = ""
    return client_id, client_secret


def json_body(body: bytes) -> Any:
    try:
        return json.loads(body.decode("utf-8")) if body else None
    except ValueError:
        raise api_error(400, "Error parsing JSON.") from None


def _ids(query: dict[str, list[str]]) -> list[str]:
    raw = query.get("ids", [""])[0]
    ids = [i for i in raw.split(",") if i]
    if not ids:
        raise api_error(400, "invalid id")
    return ids


def _page_args(query: dict[str, list[str]], *, default_limit: int, max_limit: int) -> tuple[int, int]:
    try:
        offset = int(query.get("offset", ["0"])[0])
        limit = int(query.get("limit", [str(default_limit)])[0])
    except ValueError:
        raise api_error(400, "Invalid limit or offset") from None
    if offset < 0 or not 1 <= limit <= max_limit:
        raise api_error(400, f"Invalid limit (1..{max_limit})")
    return offset, limit
