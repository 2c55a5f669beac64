"""Ingest benchmark: N albums from an in-process Spotify emulator into PostgreSQL.

Prints tracks/second for ingest and for audio features, and Spotify calls against the minimum
for each app mode: extended quota (several-albums ≤20 ids a call, audio features ≤100) and
development mode (several-albums refused once, then one call per album; no audio features).
Everything it writes is rolled back, so the bench database keeps only its fleet.

    python -m bench ingest                 # through bench/__main__.py
    python -m bench.ingest                 # standalone, in a test database of its own
Size: BENCH_INGEST_ALBUMS (default 500).
"""

from __future__ import annotations

import math
import os
import sys
import time
from typing import Any

ALBUMS = int(os.environ.get("BENCH_INGEST_ALBUMS", "500"))
SEED = 2026
CLIENT_ID = "bench-ingest"
ALBUM_TRACKS_PAGE = 50


class _Rollback(Exception):
    pass


def _minimum_calls(catalog: Any, album_ids: list[str], *, mode: str) -> dict[str, int]:
    lengths = [len(catalog.album_track_ids(a)) for a in album_ids]
    extra_pages = sum(math.ceil((n - ALBUM_TRACKS_PAGE) / ALBUM_TRACKS_PAGE) for n in lengths if n > ALBUM_TRACKS_PAGE)
    if mode == "development":
        # One 403 teaches the client; features are refused (one probe, then not asked again).
        return {"albums": 1, "album": len(album_ids), "album_tracks": extra_pages, "audio_features": 1}
    return {
        "albums": math.ceil(len(album_ids) / 20),
        "album_tracks": extra_pages,
        "audio_features": math.ceil(sum(lengths) / 100),
    }


def _run_mode(emulator: Any, album_ids: list[str], *, mode: str) -> dict[str, Any]:
    from django.db import transaction

    from ingest.models import Track
    from ingest.services import album_sources_submit, audio_features_fetch, ingest_albums_from_sources

    emulator.reset()
    emulator.set_app_mode(CLIENT_ID, mode)
    if mode == "extended":
        # A grandfathered extended app: Spotify still serves it audio features.
        emulator.grant_audio_features(CLIENT_ID)
    figures: dict[str, Any] = {}
    try:
        with transaction.atomic():
            tracks_before = Track.objects.count()
            album_sources_submit(raw_inputs=[f"spotify:album:{a}" for a in album_ids], submitted_by="bench")
            started = time.perf_counter()
            summary = ingest_albums_from_sources(max_seconds=3600)
            ingest_seconds = time.perf_counter() - started
            started = time.perf_counter()
            features = audio_features_fetch(max_seconds=3600)
            features_seconds = time.perf_counter() - started
            calls = {k: v for k, v in sorted(emulator.counts().items()) if k != "token"}
            minimum = _minimum_calls(emulator.catalog, album_ids, mode=mode)
            figures = {
                "albums": len(album_ids),
                "albums_done": summary["albums_done"],
                "tracks": summary["tracks_created"],
                "tracks_in_table_before": tracks_before,
                "ingest_seconds": round(ingest_seconds, 2),
                "tracks_per_second": round(summary["tracks_created"] / ingest_seconds, 1) if ingest_seconds else None,
                "features_stored": features["stored"],
                "features_seconds": round(features_seconds, 2),
                "features_per_second": round(features["stored"] / features_seconds, 1)
                if features_seconds and features["stored"]
                else None,
                "spotify_calls": calls,
                "spotify_calls_total": sum(calls.values()),
                "minimum_calls": minimum,
                "minimum_calls_total": sum(minimum.values()),
                "calls_over_minimum": sum(calls.values()) - sum(minimum.values()),
            }
            raise _Rollback
    except _Rollback:
        pass
    return figures


def ingest_albums_case() -> dict[str, Any]:
    from django.conf import settings

    from devstack.emulator import Catalog, SpotifyEmulator

    emulator = SpotifyEmulator(seed=SEED, port=0)
    emulator.catalog = Catalog(SEED, album_count=ALBUMS, artist_count=max(30, ALBUMS // 5))
    emulator.start()
    saved = {
        name: getattr(settings, name)
        for name in ("SPOTIFY_API_URL", "SPOTIFY_ACCOUNTS_URL", "SPOTIFY_CLIENT_ID", "SPOTIFY_CLIENT_SECRET")
    }
    settings.SPOTIFY_API_URL = emulator.api_url
    settings.SPOTIFY_ACCOUNTS_URL = emulator.accounts_url
    settings.SPOTIFY_CLIENT_ID = CLIENT_ID
    settings.SPOTIFY_CLIENT_SECRET = "bench-secret"
    try:
        album_ids = emulator.catalog.album_ids()
        return {mode: _run_mode(emulator, album_ids, mode=mode) for mode in ("extended", "development")}
    finally:
        for name, value in saved.items():
            setattr(settings, name, value)
        emulator.stop()
        _forget_refusals()


def _forget_refusals() -> None:
    """The development-mode run taught Redis that features are refused; the app it was for is gone."""
    from core.redis import get_redis, key

    client = get_redis()
    stale = list(client.scan_iter(match=key("ingest", "audio-features-denied", "*")))
    if stale:
        client.delete(*stale)


CASES = {"ingest.albums": ingest_albums_case}


def main(argv: list[str]) -> int:
    """Standalone: a throwaway test database (created, migrated, dropped) and its own Redis prefix."""
    import json

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "opsconsole.settings")
    os.environ.setdefault("REDIS_KEY_PREFIX", "opsconsole-bench-ingest")
    os.environ["HTTPS_ONLY"] = "false"
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    from devstack.runtime import bootstrap, load_local_env

    load_local_env()
    bootstrap()
    import django

    django.setup()
    from django.db import connection

    old_name = connection.settings_dict["NAME"]
    connection.settings_dict.setdefault("TEST", {})["NAME"] = f"{old_name}_bench_ingest"
    connection.creation.create_test_db(verbosity=0, autoclobber=True, keepdb=False)
    try:
        if "--profile" in argv:
            import cProfile
            import pstats

            profiler = cProfile.Profile()
            figures = profiler.runcall(ingest_albums_case)
            pstats.Stats(profiler).sort_stats("tottime").print_stats(25)
        else:
            figures = ingest_albums_case()
    finally:
        connection.creation.destroy_test_db(old_name, verbosity=0)
    print(json.dumps({"case": "ingest.albums", **figures}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
