"""Playlist benchmarks: one snapshot on a 1M-track catalog, many playlists snapshotted, sync calls.

Under `make bench` (bench/__main__.py registers `CASES`) the cases run on the synthetic fleet's
1M-track catalog, inside a transaction that is rolled back. Standalone, `python -m bench.playlists
[case ...]` uses a database of its own (<DB>_bench_playlists, kept between runs so its catalog is
generated once). Spotify is always an in-process emulator. Sizes: BENCH_TRACKS (catalog, default
1_000_000; generated only standalone), BENCH_SNAPSHOT_PLAYLISTS (default 10_000).
"""

from __future__ import annotations

import os
import statistics
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

CATALOG_TRACKS = int(os.environ.get("BENCH_TRACKS", "1000000"))
PLAYLISTS = int(os.environ.get("BENCH_SNAPSHOT_PLAYLISTS", "10000"))
TRACKS_PER_ALBUM = 10
TRACKS_PER_ARTIST = 20


def _setup_django() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "opsconsole.settings")
    # Redis keys (buckets, locks, counters) of the bench never mix with a running demo's.
    os.environ.setdefault("REDIS_KEY_PREFIX", "opsconsole-bench")
    from devstack.runtime import bootstrap

    bootstrap()
    import django

    django.setup()


_database_ready = False
# True only under this module's own main(): then (and only then) it may generate a catalog.
_standalone = False


def _bench_database() -> None:
    """Switch the default connection to the bench database (created and migrated on first use)."""
    global _database_ready
    if _database_ready:
        return
    from django.conf import settings
    from django.db import connection

    settings.DATABASES["default"].setdefault("TEST", {})
    settings.DATABASES["default"]["TEST"]["NAME"] = f"{settings.DATABASES['default']['NAME']}_bench_playlists"
    connection.creation.create_test_db(verbosity=0, autoclobber=True, keepdb=True, serialize=False)
    _database_ready = True


def _ensure_catalog(tracks: int) -> dict[str, Any]:
    """Standalone only: generate `tracks` tracks in SQL (once): 1 album per 10 tracks, 1 artist per
    20, 70% with features. Under bench/__main__.py the fleet's catalog is used as it is."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM ingest_track")
        have = cursor.fetchone()[0]
        if have >= tracks or not _standalone:
            return {"catalog_tracks": have, "generated": False, "generate_seconds": 0.0}
        started = time.perf_counter()
        cursor.execute("DELETE FROM playlists_snapshottrack; DELETE FROM ingest_track WHERE spotify_id LIKE 'bt%%'")
        artists, albums = tracks // TRACKS_PER_ARTIST + 1, tracks // TRACKS_PER_ALBUM + 1
        cursor.execute(
            "INSERT INTO ingest_artist (spotify_id, name, created_at, updated_at) "
            "SELECT 'ba' || lpad(g::text, 20, '0'), 'Bench artist ' || g, now(), now() FROM generate_series(1, %s) g "
            "ON CONFLICT (spotify_id) DO NOTHING",
            [artists],
        )
        cursor.execute(
            "INSERT INTO ingest_album (spotify_id, name, label, release_date, total_tracks, artist_id, created_at, updated_at) "
            "SELECT 'bb' || lpad(g::text, 20, '0'), 'Bench album ' || g, 'Label ' || (g %% 40), '2026-01-01', %s, "
            "(SELECT id FROM ingest_artist WHERE spotify_id = 'ba' || lpad((1 + (g - 1) / 2)::text, 20, '0')), now(), now() "
            "FROM generate_series(1, %s) g ON CONFLICT (spotify_id) DO NOTHING",
            [TRACKS_PER_ALBUM, albums],
        )
        cursor.execute(
            "INSERT INTO ingest_track (spotify_id, name, album_id, artist_id, isrc, duration_ms, disc_number, track_number,"
            " explicit, audio_features, features_fetched_at, created_at, updated_at) "
            "SELECT 'bt' || lpad(g::text, 20, '0'), 'Bench track ' || g, al.id, al.artist_id, '', 200000, 1,"
            " 1 + (g - 1) %% %s, false,"
            " CASE WHEN g %% 10 < 7 THEN jsonb_build_object('energy', ((g::bigint * 7919) %% 1000) / 1000.0,"
            "   'valence', ((g::bigint * 104729) %% 1000) / 1000.0, 'tempo', 60 + (g::bigint * 31) %% 140) END,"
            " CASE WHEN g %% 10 < 7 THEN now() END, now(), now() "
            "FROM generate_series(1, %s) g "
            "JOIN ingest_album al ON al.spotify_id = 'bb' || lpad((1 + (g - 1) / %s)::text, 20, '0')",
            [TRACKS_PER_ALBUM, tracks, TRACKS_PER_ALBUM],
        )
        cursor.execute("ANALYZE ingest_track; ANALYZE ingest_album; ANALYZE ingest_artist")
        return {"catalog_tracks": tracks, "generated": True, "generate_seconds": round(time.perf_counter() - started, 1)}


def _bench_app() -> Any:
    from accounts.models import SpotifyApp

    # Secret re-saved each run: it is encrypted with whatever token key this run has.
    app, _ = SpotifyApp.objects.update_or_create(
        name="bench",
        defaults={"client_id": "bench-client", "client_secret": "bench-secret", "user_cap": 1000, "mode": "extended"},
    )
    return app


def _bench_account(name: str) -> Any:
    from accounts.models import SpotifyAccount

    app = _bench_app()
    account, _ = SpotifyAccount.objects.get_or_create(
        spotify_user_id=name, defaults={"app": app, "display_name": name, "playlist_capacity": 1_000_000}
    )
    return account


def case_snapshot_1m(rounds: int = 25) -> dict[str, Any]:
    """One snapshot (sample + write 50 rows) on the big catalog, default and feature-range policies."""
    _bench_database()
    from django.db import connection

    from playlists.models import Playlist, PlaylistPolicy
    from playlists.sampler import sample_tracks
    from playlists.services import playlist_build_snapshot

    catalog = _ensure_catalog(CATALOG_TRACKS)
    account = _bench_account("bench-snapshot")
    results: dict[str, Any] = {**catalog}
    policies = {
        "default": {},
        "energy_0.6-0.9_no_featureless": {
            "feature_ranges": {"energy": {"min": 0.6, "max": 0.9}},
            "tracks_without_features_pass": False,
        },
    }
    for label, fields in policies.items():
        policy, _ = PlaylistPolicy.objects.update_or_create(name=f"bench {label}", defaults=fields)
        playlist = Playlist.objects.create(account=account, policy=policy)
        build_ms, sample_ms, sizes = [], [], []
        for n in range(rounds):
            started = time.perf_counter()
            snapshot = playlist_build_snapshot(playlist=playlist, seed=1000 + n, actor="bench")
            build_ms.append((time.perf_counter() - started) * 1000)
            sizes.append(snapshot.track_count)
            started = time.perf_counter()
            from django.utils import timezone

            sample_tracks(policy=policy, playlist_id=playlist.pk, seed=5000 + n, now=timezone.now())
            sample_ms.append((time.perf_counter() - started) * 1000)
        results[label] = {
            "snapshot_ms_median": round(statistics.median(build_ms), 2),
            "snapshot_ms_max": round(max(build_ms), 2),
            "sampler_query_ms_median": round(statistics.median(sample_ms), 2),
            "tracks_per_snapshot_min": min(sizes),
        }
    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN SELECT id FROM ingest_track t WHERE hashint8(t.id) >= 0 ORDER BY hashint8(t.id) LIMIT 20")
        plan = " ".join(row[0] for row in cursor.fetchall())
    results["uses_sample_key_index"] = "playlists_track_sample_key_idx" in plan
    return results


def case_snapshot_many_playlists(count: int = PLAYLISTS) -> dict[str, Any]:
    """`count` playlists snapshotted one after another on the big catalog (the 04:00 job's work)."""
    _bench_database()
    from django.db import transaction

    from playlists.models import Playlist
    from playlists.services import playlists_build_snapshots, policy_get_default
    from playlists.tasks import SNAPSHOT_CHUNK

    _ensure_catalog(CATALOG_TRACKS)
    account = _bench_account("bench-many")
    policy = policy_get_default()
    with transaction.atomic():
        Playlist.objects.filter(account=account).delete()
        playlists = Playlist.objects.bulk_create(Playlist(account=account, policy=policy, index=n + 1) for n in range(count))
    ids = [str(p.pk) for p in playlists]
    started = time.perf_counter()
    short = failed = 0
    # As the 04:00 job does it: chunks of SNAPSHOT_CHUNK, one transaction each (here one after another).
    for start in range(0, count, SNAPSHOT_CHUNK):
        result = playlists_build_snapshots(playlist_ids=ids[start : start + SNAPSHOT_CHUNK], actor="bench")
        short += len(result["short"])
        failed += len(result["failed"])
    seconds = time.perf_counter() - started
    return {
        "playlists": count,
        "total_seconds": round(seconds, 1),
        "ms_per_playlist": round(seconds * 1000 / count, 2),
        "short": short,
        "failed": failed,
        "chunk": SNAPSHOT_CHUNK,
    }


@contextmanager
def _emulator() -> Iterator[Any]:
    from django.conf import settings

    from devstack.emulator import SpotifyEmulator

    emulator = SpotifyEmulator(seed=42, port=0).start()
    saved = settings.SPOTIFY_API_URL, settings.SPOTIFY_ACCOUNTS_URL
    settings.SPOTIFY_API_URL, settings.SPOTIFY_ACCOUNTS_URL = emulator.api_url, emulator.accounts_url
    try:
        yield emulator
    finally:
        settings.SPOTIFY_API_URL, settings.SPOTIFY_ACCOUNTS_URL = saved
        emulator.stop()


WRITE_ENDPOINTS = ("create_playlist", "playlist_details", "playlist_items_put", "playlist_items_post")


def case_sync_calls(count: int = 20) -> dict[str, Any]:
    """Spotify calls per playlist for: first sync, unchanged re-sync, reshuffle — against the minimum."""
    _bench_database()
    from accounts.services import account_onboard
    from playlists.models import Playlist
    from playlists.services import playlist_reshuffle, playlist_sync, playlists_create

    _ensure_catalog(min(CATALOG_TRACKS, 20000))
    with _emulator() as emulator:
        app = _bench_app()
        user_id = f"bench-sync-{int(time.time())}"
        user = emulator.create_user(user_id, client_id=app.client_id)
        account = account_onboard(app=app, spotify_user_id=user_id, display_name=user_id, refresh_token=user["refresh_token"])
        playlists = playlists_create(account=account, count=count, actor="bench", queue_sync=False)
        report: dict[str, Any] = {"playlists": count}
        for phase, minimum, run in (
            ("first_sync", 2, lambda p: playlist_sync(playlist=p, actor="bench")),
            ("unchanged_sync", 0, lambda p: playlist_sync(playlist=p, actor="bench")),
            ("reshuffle", 1, lambda p: playlist_reshuffle(playlist=p, actor="bench")),
        ):
            emulator.reset_counts()
            for playlist in playlists:
                run(Playlist.objects.get(pk=playlist.pk))
            counts = emulator.counts()
            writes = sum(counts.get(name, 0) for name in WRITE_ENDPOINTS)
            report[phase] = {
                "write_calls_per_playlist": round(writes / count, 2),
                "minimum_write_calls_per_playlist": minimum,
                "all_calls": {k: v for k, v in sorted(counts.items()) if v},
            }
        return report


CASES: dict[str, Callable[[], dict[str, Any]]] = {
    "playlists.snapshot_1m": case_snapshot_1m,
    "playlists.snapshot_many_playlists": case_snapshot_many_playlists,
    "playlists.sync_calls": case_sync_calls,
}


def main(argv: list[str]) -> int:
    import json

    global _standalone
    _standalone = True
    _setup_django()
    names = argv or list(CASES)
    for name in names:
        started = time.perf_counter()
        result = CASES[name]()
        print(json.dumps({"case": name, "seconds": round(time.perf_counter() - started, 1), **result}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
