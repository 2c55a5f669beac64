"""Turning what people paste into a Spotify album id, or a reason why not."""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import urlsplit

ALBUM_ID_LENGTH = 22
_BASE62 = re.compile(r"^[0-9A-Za-z]+$")
# ISO 3901: country (2 letters), registrant (3 alphanumerics), year (2 digits), designation (5 digits).
_ISRC = re.compile(r"^[A-Z]{2}[A-Z0-9]{3}[0-9]{7}$")
# open.spotify.com/album/<id>, optionally behind a locale segment such as /intl-de/.
_URL_PATH = re.compile(r"^/(?:intl-[a-z]{2}(?:-[a-z]{2,4})?/)?(?P<kind>[a-z-]+)/(?P<id>[^/]*)/?$", re.IGNORECASE)
_SPOTIFY_HOSTS = {"open.spotify.com", "play.spotify.com"}


@dataclass(frozen=True)
class ParsedAlbum:
    album_id: str = ""
    reason: str = ""

    @property
    def ok(self) -> bool:
        return bool(self.album_id)


def looks_like_spotify_id(term: str) -> bool:
    """22 base62 characters: any Spotify id (track, album, artist, playlist)."""
    return len(term) == ALBUM_ID_LENGTH and bool(_BASE62.match(term))


def looks_like_isrc(term: str) -> bool:
    return bool(_ISRC.match(term.upper()))


def _check_id(candidate: str) -> ParsedAlbum:
    if not looks_like_spotify_id(candidate):
        return ParsedAlbum(reason=f"album id {candidate[:40]!r} is not 22 base62 characters")
    return ParsedAlbum(album_id=candidate)


def _wrong_kind(kind: str) -> ParsedAlbum:
    return ParsedAlbum(reason=f"this is a Spotify {kind} link, not an album")


def album_id_parse(raw: str) -> ParsedAlbum:
    """An album id from an open.spotify.com URL (query string, fragment and /intl-xx/ allowed),
    a `spotify:album:<id>` URI or a bare 22-character base62 id."""
    text = raw.strip()
    if not text:
        return ParsedAlbum(reason="empty input")
    if len(text) > 500:
        return ParsedAlbum(reason="input longer than 500 characters")
    if text.lower().startswith("spotify:"):
        parts = text.split(":")
        if len(parts) != 3 or not parts[2]:
            return ParsedAlbum(reason="a Spotify URI looks like spotify:album:<22-character id>")
        if parts[1].lower() != "album":
            return _wrong_kind(parts[1].lower())
        return _check_id(parts[2])
    if "/" in text or "." in text:
        url = text if "://" in text else f"https://{text}"
        try:
            split = urlsplit(url)
        except ValueError:
            return ParsedAlbum(reason="not a valid URL")
        if split.scheme not in ("http", "https"):
            return ParsedAlbum(reason=f"unsupported URL scheme {split.scheme!r}")
        if (split.hostname or "").lower() not in _SPOTIFY_HOSTS:
            return ParsedAlbum(reason=f"not an open.spotify.com link (host {split.hostname or '?'!r})")
        match = _URL_PATH.match(split.path)
        if not match:
            return ParsedAlbum(reason="the link has no /album/<id> path")
        kind = match.group("kind").lower()
        if kind != "album":
            return _wrong_kind(kind)
        if not match.group("id"):
            return ParsedAlbum(reason="the link has no album id after /album/")
        return _check_id(match.group("id"))
    return _check_id(text)
