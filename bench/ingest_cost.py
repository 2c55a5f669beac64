"""What ingesting a track costs us, and how ingest scales with workers against a slow Spotify.

The emulator runs in a process of its own (its CPU is not ours) on 127.0.0.1; the catalog is
generated from a seed of its own, so every track is new to the fleet.

- `ingest.cost_per_track`: Spotify answering at once; our CPU per track is this process's CPU
  (client, parsing, ORM, the upserts' Python side) plus the CPU of its PostgreSQL backend
  (read from /proc: the server runs on this machine), over the tracks created. Rolled back.
- `ingest.workers`: every call waits BENCH_SPOTIFY_LATENCY_MS (default 150 ms, a realistic
  Spotify round trip); 1, 2 and 4 workers (threads, each with its own database connection,
  claiming 20 albums at a time as concurrent Celery workers do) ingest the same albums. N
  workers wait N calls at once, up to the app's rate limit (SPOTIFY_APP_RATE_PER_SECOND). The
  rows are committed as in production and deleted afterwards.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from bench.cpu import process_cpu_seconds
from bench.registry import Figures

ALBUMS = int(os.environ.get("BENCH_INGEST_COST_ALBUMS", "500"))
WORKER_ALBUMS = int(os.environ.get("BENCH_INGEST_WORKER_ALBUMS", "300"))
LATENCY_MS = float(os.environ.get("BENCH_SPOTIFY_LATENCY_MS", "150"))
WORKER_COUNTS = (1, 2, 4)
SEED = 7151
CLIENT_ID = "bench-ingest-cost"
# One several-albums call per claim, so that concurrent workers share the queue.
CLAIM = 20

_EMULATOR = """
import sys
from devstack.emulator import Catalog, SpotifyEmulator
seed, albums = int(sys.argv[1]), int(sys.argv[2])
emulator = SpotifyEmulator(seed=seed, port=0)
emulator.catalog = Catalog(seed, album_count=albums, artist_count=max(30, albums // 5))
print(emulator.url, flush=True)
emulator.serve_forever()
"""


class _Rollback(Exception):
    pass


@contextmanager
def emulator_process(albums: int) -> Iterator[Any]:
    """The emulator in a process of its own, its settings pointed at by this one's."""
    from django.conf import settings

    from devstack.emulator import EmulatorRemote

    process = subprocess.Popen(
        [sys.executable, "-c", _EMULATOR, str(SEED), str(albums)], stdout=subprocess.PIPE, text=True, cwd=os.getcwd()
    )
    names = ("SPOTIFY_API_URL", "SPOTIFY_ACCOUNTS_URL", "SPOTIFY_CLIENT_ID", "SPOTIFY_CLIENT_SECRET")
    saved = {name: getattr(settings, name) for name in names}
    try:
        assert process.stdout is not None
        remote = EmulatorRemote(process.stdout.readline().strip())
        remote.set_app_mode(CLIENT_ID, "extended")
        settings.SPOTIFY_API_URL = remote.api_url
        settings.SPOTIFY_ACCOUNTS_URL = remote.accounts_url
        settings.SPOTIFY_CLIENT_ID = CLIENT_ID
        settings.SPOTIFY_CLIENT_SECRET = "bench-secret"
        yield remote
    finally:
        for name, value in saved.items():
            setattr(settings, name, value)
        process.terminate()
        process.wait(timeout=10)


def _album_ids(remote: Any) -> list[str]:
    return list(remote.album_ids())


def cost_per_track_case() -> Figures:
    from django.db import connection, transaction

    from ingest.services import album_sources_submit, ingest_albums_from_sources

    with emulator_process(ALBUMS) as remote:
        album_ids = _album_ids(remote)
        figures: Figures = {}
        try:
            with transaction.atomic():
                album_sources_submit(raw_inputs=[f"spotify:album:{a}" for a in album_ids], submitted_by="bench")
                with connection.cursor() as cursor:
                    cursor.execute("SELECT pg_backend_pid()")
                    backend = int(cursor.fetchone()[0])
                remote.reset_counts()
                db_before = process_cpu_seconds(backend)
                cpu_before, wall_before = time.process_time(), time.perf_counter()
                summary = ingest_albums_from_sources(max_seconds=3600)
                cpu = time.process_time() - cpu_before
                wall = time.perf_counter() - wall_before
                db_after = process_cpu_seconds(backend)
                db = db_after - db_before if db_before is not None and db_after is not None else None
                tracks = summary["tracks_created"]
                calls = {k: v for k, v in remote.counts().items() if k != "token"}
                total = cpu + (db or 0.0)
                figures = {
                    "albums": summary["albums_done"],
                    "tracks": tracks,
                    "worker_cpu_ms_per_track": round(cpu * 1000 / tracks, 3) if tracks else None,
                    "database_cpu_ms_per_track": round(db * 1000 / tracks, 3) if tracks and db is not None else None,
                    "cpu_ms_per_track": round(total * 1000 / tracks, 3) if tracks else None,
                    "tracks_per_cpu_second": round(tracks / total) if total else None,
                    "wall_seconds": round(wall, 2),
                    "spotify_calls": calls,
                    "goal_cpu_ms_per_track": 0.1,
                }
                raise _Rollback
        except _Rollback:
            pass
    return figures


def _delete_ingested(album_ids: list[str], track_ids: list[str]) -> None:
    """Remove what a workers run committed: its sources, tracks, albums and their new artists."""
    from django.db.models import Q

    from ingest.models import Album, AlbumSource, Artist, Track

    artists = set(Track.objects.filter(spotify_id__in=track_ids).values_list("artist_id", flat=True))
    artists |= set(Album.objects.filter(spotify_id__in=album_ids).values_list("artist_id", flat=True))
    AlbumSource.objects.filter(spotify_album_id__in=album_ids).delete()
    Track.objects.filter(spotify_id__in=track_ids).delete()
    Album.objects.filter(spotify_id__in=album_ids).delete()
    Artist.objects.filter(pk__in=artists - {None}).exclude(Q(tracks__isnull=False) | Q(albums__isnull=False)).delete()


def _run_workers(count: int) -> dict[str, Any]:
    from django.db import connections

    from ingest.services import ingest_albums_from_sources

    summaries: list[dict[str, Any]] = []
    errors: list[str] = []

    def work() -> None:
        try:
            summaries.append(ingest_albums_from_sources(batch_size=CLAIM, max_seconds=600))
        except Exception as exc:  # reported, not raised: the other workers' figures still count
            errors.append(f"{type(exc).__name__}: {exc}")
        finally:
            connections.close_all()

    threads = [threading.Thread(target=work, name=f"bench-ingest-{n}") for n in range(count)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return {
        "seconds": round(time.perf_counter() - started, 2),
        "albums": sum(s["albums_done"] for s in summaries),
        "tracks": sum(s["tracks_created"] for s in summaries),
        "errors": errors,
    }


def workers_case() -> Figures:
    from django.conf import settings

    from accounts.models import SpotifyApp
    from devstack.emulator import Catalog
    from ingest.services import album_sources_submit
    from jobs.models import JobRun
    from opsconsole.celery import app

    figures: Figures = {"latency_ms": LATENCY_MS, "app_rate_per_second": settings.SPOTIFY_APP_RATE_PER_SECOND}
    catalog = Catalog(SEED, album_count=WORKER_ALBUMS, artist_count=max(30, WORKER_ALBUMS // 5))
    runs_before = JobRun.objects.order_by("-pk").values_list("pk", flat=True).first() or 0
    with emulator_process(WORKER_ALBUMS) as remote:
        album_ids = _album_ids(remote)
        track_ids = [track for album in album_ids for track in catalog.album_track_ids(album)]
        remote.fault("*", status=None, latency=LATENCY_MS / 1000)
        try:
            for count in WORKER_COUNTS:
                album_sources_submit(raw_inputs=[f"spotify:album:{a}" for a in album_ids], submitted_by="bench")
                remote.reset_counts()
                try:
                    run = _run_workers(count)
                finally:
                    _delete_ingested(album_ids, track_ids)
                calls = sum(v for k, v in remote.counts().items() if k != "token")
                run.update(
                    spotify_calls=calls,
                    calls_per_second=round(calls / run["seconds"], 1) if run["seconds"] else None,
                    tracks_per_second=round(run["tracks"] / run["seconds"], 1) if run["seconds"] else None,
                )
                figures[f"workers_{count}"] = run
        finally:
            remote.clear_faults()
            # Each run queued an audio-features job on commit; nobody consumes the bench's queue.
            JobRun.objects.filter(pk__gt=runs_before).delete()
            app.control.purge()
            SpotifyApp.objects.filter(client_id=CLIENT_ID).delete()
    one = figures["workers_1"]["seconds"]
    for count in WORKER_COUNTS:
        run = figures[f"workers_{count}"]
        run["speedup"] = round(one / run["seconds"], 2) if run["seconds"] else None
    return figures


CASES = {"ingest.cost_per_track": cost_per_track_case, "ingest.workers": workers_case}
