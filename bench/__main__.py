"""`make bench`: build the synthetic fleet once, run every case, print and record the figures.

Runs against a database of its own, `<DATABASE_URL's name>_bench` (BENCH_DATABASE_NAME overrides)
on the same server, so dev and test data are never touched; the fleet is built there once (bulk
SQL, bench/fleet.py) and reused while its version marker matches. Redis keys get a prefix of
their own. Each case is a function returning a dict of figures; the figures are printed as
they come and merged into var/bench/latest.json.

    python -m bench                 # every case
    python -m bench admin. api.     # cases whose names start with these prefixes
    python -m bench --list
    python -m bench soak            # the chaos soak (bench/soak/, `make soak`)

Sizes (BENCH_TRACKS, BENCH_PLAYLISTS, ...) and knobs: see BENCHMARKS.md.
"""

from __future__ import annotations

import importlib
import json
import os
import sys
import time
import traceback
from contextlib import nullcontext
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from bench.registry import REGISTRY, Case, Figures

BASE_DIR = Path(__file__).resolve().parent.parent
# BENCH_RESULTS: another file (`make bench-scale` keeps one per fleet).
RESULTS = BASE_DIR / os.environ.get("BENCH_RESULTS", "var/bench/latest.json")

# Modules that register cases on import (or expose a `CASES` dict of name -> function), in run
# order: readers first, then the writers. A module not written yet is reported, not fatal.
CASE_MODULES: list[tuple[str, bool]] = [
    ("bench.admin_api", False),
    ("bench.job_durations", False),
    ("bench.timeline", False),
    ("bench.ops", False),
    ("bench.load", False),
    ("bench.ingest", False),
    ("bench.ingest_cost", False),
    ("bench.playlists", True),
    ("bench.nightly", False),
    ("bench.drift", True),
]


def _load_cases() -> list[str]:
    """Import the case modules; returns a note per module that could not be loaded."""
    missing = []
    for module_name, rollback in CASE_MODULES:
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name != module_name:
                traceback.print_exc()
                missing.append(f"{module_name}: {exc}")
                continue
            missing.append(f"{module_name}: not written yet")
            continue
        except Exception as exc:  # one broken module must not cost the other figures
            traceback.print_exc()
            missing.append(f"{module_name}: {type(exc).__name__}: {exc}")
            continue
        if hasattr(module, "_database_ready"):
            # bench/playlists.py switches to a database of its own when run standalone; here the
            # fleet database is already the one to use.
            module._database_ready = True
        for name, func in getattr(module, "CASES", {}).items():
            REGISTRY.setdefault(name, Case(name=name, run=func, rollback=rollback))
    return missing


def _bench_database_url(url: str) -> tuple[str, str, str]:
    """(bench URL, bench database name, maintenance URL) on the server `url` names."""
    parts = urlsplit(url)
    name = os.environ.get("BENCH_DATABASE_NAME") or f"{parts.path.lstrip('/') or 'opsconsole'}_bench"
    return urlunsplit(parts._replace(path=f"/{name}")), name, urlunsplit(parts._replace(path="/postgres"))


def _prepare_environment() -> str:
    """Point this process (and the gunicorn it starts) at the bench database and Redis prefix."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "opsconsole.settings")
    os.environ.setdefault("REDIS_KEY_PREFIX", "opsconsole-bench")
    os.environ.setdefault("CELERY_BROKER_KEY_PREFIX", os.environ["REDIS_KEY_PREFIX"] + ":celery:")
    # Loopback only, plain HTTP: without this the test client and gunicorn answer 301 to https.
    os.environ["HTTPS_ONLY"] = "false"
    # The bench superuser has no second-factor device: with staff 2FA required every admin page
    # would measure the redirect to the verify page and every API list the 403 (seen until issue 25).
    os.environ["STAFF_2FA_REQUIRED"] = "false"
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    from devstack.runtime import bootstrap, load_local_env

    load_local_env()
    bootstrap()
    url, name, maintenance = _bench_database_url(os.environ["DATABASE_URL"])
    import psycopg

    with psycopg.connect(maintenance, autocommit=True) as conn:
        if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone() is None:
            conn.execute(f'CREATE DATABASE "{name}"')
    os.environ["DATABASE_URL"] = url
    os.environ["BENCH_DATABASE"] = name
    return name


def _fleet_key(fleet: Figures | None) -> tuple[Any, ...]:
    fleet = fleet or {}
    return tuple(fleet.get(name) for name in ("accounts", "playlists", "tracks", "job_runs", "metric_days", "dead_letters"))


def _merge_results(figures: dict[str, Figures]) -> None:
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    merged: dict[str, Any] = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    earlier = merged.get("cases", {})
    if _fleet_key(earlier.get("fleet")) != _fleet_key(figures.get("fleet")) or merged.get("database") != os.environ.get(
        "BENCH_DATABASE"
    ):
        # Figures of another fleet (other sizes, another database) do not mix with these.
        merged = {"cases": {}}
    merged["database"] = os.environ.get("BENCH_DATABASE")
    merged.setdefault("cases", {}).update(figures)
    merged["updated_at"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    from bench.fleet import machine

    merged["machine"] = machine()
    RESULTS.write_text(json.dumps(merged, indent=2, sort_keys=True, default=str) + "\n")


def _dig(figures: dict[str, Figures], *path: str) -> Any:
    value: Any = figures
    for part in path:
        if not isinstance(value, dict) or part not in value:
            return None
        value = value[part]
    return value


def _ratio(made: Any, minimum: Any) -> float | None:
    if not isinstance(made, (int, float)) or not isinstance(minimum, (int, float)):
        return None
    return 1.0 if made == minimum == 0 else (round(made / minimum, 2) if minimum else None)


def _load_lines(results: dict[str, Figures]) -> dict[str, Any]:
    """Each load target: req/s, p50 ms, p99 ms, errors and its share of /live's rate in the same run."""
    load = _dig(results, "load.health_and_api") or {}
    lines: dict[str, Any] = {
        "/live under load req/s, p50 ms, p99 ms": [_dig(load, "live", f) for f in ("requests_per_second", "p50_ms", "p99_ms")]
    }
    for figures in load.values():
        if isinstance(figures, dict) and "share_of_live" in figures:
            label = (
                f"{figures['path']} under load req/s, p50, p99, errors, share of /live, CPU ms per request, /live's, share by CPU"
            )
            lines[label] = [
                figures.get(f)
                for f in (
                    "requests_per_second",
                    "p50_ms",
                    "p99_ms",
                    "errors",
                    "share_of_live",
                    "cpu_ms_per_request",
                    "live_cpu_ms_per_request",
                    "cpu_share_of_live",
                )
            ]
    return lines


def summary(results: dict[str, Figures]) -> dict[str, Any]:
    """The headline figures of the issue, picked out of the cases' own dicts (None: not run)."""
    sync = {
        phase: _ratio(
            _dig(results, "playlists.sync_calls", phase, "write_calls_per_playlist"),
            _dig(results, "playlists.sync_calls", phase, "minimum_write_calls_per_playlist"),
        )
        for phase in ("first_sync", "unchanged_sync", "reshuffle")
    }
    lines: dict[str, Any] = {
        "tracks first page, API median ms (target < 150)": _dig(results, "api.tracks", "median_ms"),
        "tracks first page, admin median ms (target < 150)": _dig(results, "admin.tracks", "median_ms"),
        "queries per page (admin/API), never growing with rows": {
            name: _dig(results, name, "queries") for name in results if name.startswith(("admin.", "api."))
        },
        "ingest calls / minimum, extended app": _ratio(
            _dig(results, "ingest.albums", "extended", "spotify_calls_total"),
            _dig(results, "ingest.albums", "extended", "minimum_calls_total"),
        ),
        "ingest calls / minimum, development app": _ratio(
            _dig(results, "ingest.albums", "development", "spotify_calls_total"),
            _dig(results, "ingest.albums", "development", "minimum_calls_total"),
        ),
        "features calls / minimum": _ratio(
            _dig(results, "ingest.albums", "extended", "spotify_calls", "audio_features"),
            _dig(results, "ingest.albums", "extended", "minimum_calls", "audio_features"),
        ),
        "sync write calls / minimum": sync,
        "ingest tracks/s (extended app)": _dig(results, "ingest.albums", "extended", "tracks_per_second"),
        "one snapshot ms (median, 1M tracks)": _dig(results, "playlists.snapshot_1m", "default", "snapshot_ms_median"),
        "all 10k snapshots s": _dig(results, "playlists.snapshot_many_playlists", "total_seconds"),
        **_load_lines(results),
        "admin changelists median ms, 100 rows (goal <= 80)": {
            name.removeprefix("admin."): _dig(results, name, "median_ms") for name in results if name.startswith("admin.")
        },
        "ingest our CPU ms per track, worker + database (goal <= 0.1)": [
            _dig(results, "ingest.cost_per_track", figure)
            for figure in ("cpu_ms_per_track", "worker_cpu_ms_per_track", "database_cpu_ms_per_track")
        ],
        "ingest against a 150 ms Spotify, 1/2/4 workers: seconds, speedup": {
            count: [_dig(results, "ingest.workers", f"workers_{count}", figure) for figure in ("seconds", "speedup")]
            for count in (1, 2, 4)
        },
    }
    return lines


def main(argv: list[str]) -> int:
    if argv[:1] == ["soak"]:
        # The chaos soak (bench/soak/): a stack and a database of its own under var/soak/.
        from bench.soak.main import main as soak

        return soak(argv[1:])
    if os.environ.get("BENCH_SCALE") and not os.environ.get("BENCH_SCALE_CHILD"):
        # `BENCH_SCALE=10 make bench`: both fleets and the table (bench/scale.py).
        from bench.scale import main as scale

        return scale(argv)
    started = time.perf_counter()
    database = _prepare_environment()
    import django

    django.setup()
    import logging

    # The cases provoke 403s (development-mode apps) on purpose; spotipy logs each at ERROR.
    logging.getLogger("spotipy").setLevel(logging.CRITICAL)
    from django.core.management import call_command
    from django.db import transaction

    from bench import fleet

    missing = _load_cases()
    if "--list" in argv:
        print("\n".join(sorted(REGISTRY)))
        return 0
    prefixes = [a for a in argv if not a.startswith("-")]
    print(f"bench database: {database}", flush=True)
    call_command("migrate", "--no-input", verbosity=0)
    built = fleet.fleet_ensure(sizes=fleet.FleetSizes.from_env())
    print(json.dumps({"case": "fleet", **built}), flush=True)
    results: dict[str, Figures] = {"fleet": built}
    for note in missing:
        print(json.dumps({"case": note.split(":", 1)[0], "skipped": note.split(":", 1)[1].strip()}), flush=True)
    from core.progress import Progress

    failed = 0
    selected = [case for case in REGISTRY.values() if not prefixes or any(case.name.startswith(p) for p in prefixes)]
    # The bar (or plain lines off a terminal) on stderr; stdout keeps one JSON line per case.
    progress = Progress(total=len(selected), desc="bench", unit="cases", stream=sys.stderr)
    for case in selected:
        case_started = time.perf_counter()
        try:
            with transaction.atomic() if case.rollback else nullcontext():
                figures = case.run()
                if case.rollback:
                    transaction.set_rollback(True)
        except Exception as exc:
            failed += 1
            traceback.print_exc()
            figures = {"error": f"{type(exc).__name__}: {exc}"}
        figures = {**figures, "case_seconds": round(time.perf_counter() - case_started, 1)}
        results[case.name] = figures
        progress.write(json.dumps({"case": case.name, **figures}, default=str), stream=sys.stdout)
        progress.update(note=case.name)
        _merge_results(results)
    progress.close()
    _merge_results(results)
    merged = json.loads(RESULTS.read_text())
    merged["summary"] = summary(merged["cases"])
    RESULTS.write_text(json.dumps(merged, indent=2, sort_keys=True, default=str) + "\n")
    print("summary (this run and earlier ones in latest.json):")
    for label, value in merged["summary"].items():
        print(f"  {label}: {json.dumps(value)}")
    print(f"bench done in {time.perf_counter() - started:.0f} s; figures in {RESULTS}", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
