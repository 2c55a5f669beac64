"""The emulator's catalog: artists, albums, tracks and audio features generated from a seed."""

from __future__ import annotations

import random
from typing import Any

BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
MARKETS = ["DE", "FR", "GB", "SE", "US"]
# A full album object embeds one album-tracks page of this size.
MAX_ALBUM_TRACKS_PAGE = 50


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

    def simplified_album(self, album_id: str, base: str, *, extended: bool = True) -> dict[str, Any]:
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
        if extended:
            result["available_markets"] = list(MARKETS)
        return result

    # `extended`: the app is an extended-quota app. Development Mode apps (February 2026) no
    # longer get `available_markets` or `popularity` on albums and tracks.
    def simplified_track(self, track_id: str, base: str, *, extended: bool = True) -> dict[str, Any]:
        track = {k: v for k, v in self._tracks[track_id].items() if k not in ("album_id", "popularity", "external_ids")}
        track["href"] = f"{base}/v1/tracks/{track_id}"
        track["external_urls"] = {"spotify": f"https://open.spotify.com/track/{track_id}"}
        track["preview_url"] = None
        if extended:
            track["available_markets"] = list(MARKETS)
        return track

    def full_track(self, track_id: str, base: str, *, extended: bool = True) -> dict[str, Any] | None:
        if track_id not in self._tracks:
            return None
        stored = self._tracks[track_id]
        track = self.simplified_track(track_id, base, extended=extended)
        if extended:
            track["popularity"] = stored["popularity"]
        track["external_ids"] = stored["external_ids"]
        track["album"] = self.simplified_album(stored["album_id"], base, extended=extended)
        return track

    def full_album(self, album_id: str, base: str, *, extended: bool = True) -> dict[str, Any]:
        album = dict(self._albums[album_id])
        if not extended:
            del album["popularity"]
        album.update(self.simplified_album(album_id, base, extended=extended))
        year = album["release_date"][:4]
        album["copyrights"] = [
            {"text": f"(C) {year} {album['label']}", "type": "C"},
            {"text": f"(P) {year} {album['label']}", "type": "P"},
        ]
        album["tracks"] = self.album_tracks_page(album_id, base, offset=0, limit=MAX_ALBUM_TRACKS_PAGE, extended=extended)
        return album

    def album_tracks_page(self, album_id: str, base: str, *, offset: int, limit: int, extended: bool = True) -> dict[str, Any]:
        ids = self._album_tracks[album_id]
        items = [self.simplified_track(t, base, extended=extended) for t in ids[offset : offset + limit]]
        return paging(f"{base}/v1/albums/{album_id}/tracks", items, total=len(ids), offset=offset, limit=limit)


def paging(href: str, items: list[Any], *, total: int, offset: int, limit: int, next_limit: int | None = None) -> dict[str, Any]:
    # spotipy follows `next` as given: it must name this server, not api.spotify.com.
    # `next_limit`: a page embedded in another object may hold more than its own endpoint
    # serves per call; its `next` asks for what that endpoint takes.
    step = next_limit or limit
    next_url = f"{href}?offset={offset + limit}&limit={step}" if offset + limit < total else None
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
