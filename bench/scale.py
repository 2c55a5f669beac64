"""`make bench-scale`: the same cases on the bench fleet and on the fleet ×BENCH_SCALE, one table.

Runs `python -m bench <cases>` twice, one after the other, as child processes: on the usual fleet
(`<name>_bench`, FleetSizes from BENCH_* as `make bench`) and on the scaled one (`<name>_bench_x10`:
every row count × the scale, the same 30 days of history; built once, then reused). Each writes
its own results file (var/bench/scale_x1.json, scale_x10.json); the table of issue 25 is printed
from the two: the figure on each fleet, the ratio, the goal, PASS or MISS. Then the run's wall
time and each fleet database's size.

    python -m bench.scale              # BENCH_SCALE (default 10), the table's cases
    python -m bench.scale ops. admin.  # only these case prefixes (rows of others: "not run")
    python -m bench.scale --markdown   # the last run's table again, as BENCHMARKS.md records it
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from bench.fleet import FleetSizes

BASE_DIR = Path(__file__).resolve().parent.parent
# The cases behind the table (prefixes): what `make bench-scale` runs on both fleets.
SCALE_CASES = [
    "admin.",
    "api.accounts",
    "api.playlists",
    "api.tracks",
    "api.job_runs",
    "api.dlq_messages",
    "api.filtered_",
    "ops.",
    "jobs.run_timeline",
    "playlists.snapshot_1m",
    "playlists.nightly_two_workers",
    "alerts.evaluate",
    "metrics.retention_prune",
    "playlists.sync_calls",
    "load.gunicorn_rss",
]
# Ratio goal of the pages and selectors: each within 1.5× its own figure on the smaller fleet.
RATIO_GOAL = 1.5
SNAPSHOT_GOAL_MS = 10.0
NIGHTLY_GOAL_SECONDS = 300.0
ALERTS_GOAL_MS = 1000.0
STATEMENT_GOAL_MS = 1000.0
# "No growth between two nightly runs", read as: a worker's RSS after the second run within this
# much of its RSS after the first (allocator noise, not a leak).
RSS_GROWTH_GOAL_MB = 5.0


def scaled(sizes: FleetSizes, scale: int) -> FleetSizes:
    """Every count × scale; the history stays 30 days (it is a window, not a count)."""
    return replace(
        sizes,
        **{name: value * scale for name, value in asdict(sizes).items() if name != "metric_days"},
    )


@dataclass(frozen=True)
class Row:
    group: str
    label: str
    small: Any
    large: Any
    ratio: float | None
    goal: str
    met: bool | None  # None: no goal to meet, or not measured

    @property
    def verdict(self) -> str:
        if self.goal == "not measured":
            return self.goal
        if self.small is None and self.large is None:
            return "not run"
        return "" if self.met is None else ("PASS" if self.met else "MISS")


def _dig(figures: dict[str, Any], path: str) -> Any:
    value: Any = figures
    for part in path.split("/"):
        if not isinstance(value, dict) or part not in value:
            return None
        value = value[part]
    return value


def _ratio(small: Any, large: Any) -> float | None:
    if not isinstance(small, (int, float)) or not isinstance(large, (int, float)) or isinstance(small, bool):
        return None
    if small == 0:
        return 1.0 if large == 0 else None
    return round(large / small, 2)


def _within_ratio(small: Any, large: Any) -> bool | None:
    ratio = _ratio(small, large)
    return None if ratio is None else ratio <= RATIO_GOAL


def _equal(small: Any, large: Any) -> bool | None:
    return None if small is None or large is None else small == large


def _at_most(limit: float) -> Callable[[Any, Any], bool | None]:
    return lambda small, large: None if not isinstance(large, (int, float)) else large <= limit


def _none(small: Any, large: Any) -> bool | None:
    return None


def _sync_ratio(phase: str) -> Callable[[dict[str, Any]], Any]:
    def read(figures: dict[str, Any]) -> Any:
        made = _dig(figures, f"playlists.sync_calls/{phase}/write_calls_per_playlist")
        minimum = _dig(figures, f"playlists.sync_calls/{phase}/minimum_write_calls_per_playlist")
        if made is None or minimum is None:
            return None
        return 1.0 if made == minimum == 0 else (round(made / minimum, 2) if minimum else None)

    return read


def _rss_after(pass_number: int) -> Callable[[dict[str, Any]], Any]:
    def read(figures: dict[str, Any]) -> Any:
        workers = _dig(figures, "playlists.nightly_two_workers/worker_rss_mb")
        return max(w[f"after_pass_{pass_number}"] for w in workers) if workers else None

    return read


def _max_of(path: str) -> Callable[[dict[str, Any]], Any]:
    def read(figures: dict[str, Any]) -> Any:
        values = _dig(figures, path)
        return max(values) if values else None

    return read


Reader = str | Callable[[dict[str, Any]], Any]


def _spec() -> list[tuple[str, str, Reader, str, Callable[[Any, Any], bool | None]]]:
    """(group, label, where the figure is, goal text, goal check) per row of the table."""
    from bench.admin_api import ADMIN_PAGES, ADMIN_SEARCHES, API_FILTERED, API_PAGES

    ratio = f"≤ {RATIO_GOAL}× the smaller fleet's"
    rows: list[tuple[str, str, Reader, str, Callable[[Any, Any], bool | None]]] = []
    for name in [*ADMIN_PAGES, *ADMIN_SEARCHES]:
        group = "admin search" if name.startswith("search_") else "admin changelist"
        rows.append((group, f"{name} median ms", f"admin.{name}/median_ms", ratio, _within_ratio))
        rows.append((group, f"{name} queries", f"admin.{name}/queries", "unchanged", _equal))
    for name in API_PAGES:
        rows.append(("API first page", f"{name} median ms", f"api.{name}/median_ms", ratio, _within_ratio))
        rows.append(("API first page", f"{name} queries", f"api.{name}/queries", "unchanged", _equal))
        rows.append(("API first page", f"{name} queries at 200 rows", f"api.{name}/queries_at_200_rows", "unchanged", _equal))
    for name in API_FILTERED:
        rows.append(("API filtered page", f"{name} median ms", f"api.filtered_{name}/median_ms", ratio, _within_ratio))
        rows.append(("API filtered page", f"{name} queries", f"api.filtered_{name}/queries", "unchanged", _equal))
    for label, path in (
        ("dashboard 24h", "ops.dashboard/24h"),
        ("dashboard 30d", "ops.dashboard/30d"),
        ("health report", "ops.health"),
        ("queues: failed runs per queue", "ops.queues/failed_recent"),
    ):
        rows.append(("selectors", f"{label} median ms", f"{path}/median_ms", ratio, _within_ratio))
        rows.append(("selectors", f"{label} queries", f"{path}/queries", "unchanged", _equal))
    rows.append(("selectors", "run timeline, a day, median ms", "jobs.run_timeline/day_median_ms", ratio, _within_ratio))
    rows.append(("selectors", "run timeline, widest, median ms", "jobs.run_timeline/widest_median_ms", ratio, _within_ratio))
    rows += [
        (
            "snapshot",
            "one snapshot median ms (default policy)",
            "playlists.snapshot_1m/default/snapshot_ms_median",
            f"≤ {SNAPSHOT_GOAL_MS:g} ms",
            _at_most(SNAPSHOT_GOAL_MS),
        ),
        (
            "snapshot",
            "one snapshot median ms (feature ranges)",
            "playlists.snapshot_1m/energy_0.6-0.9_no_featureless/snapshot_ms_median",
            f"≤ {SNAPSHOT_GOAL_MS:g} ms",
            _at_most(SNAPSHOT_GOAL_MS),
        ),
        ("nightly", "sample snapshotted, two workers", "playlists.nightly_two_workers/sample", "", _none),
        ("nightly", "sample wall s, two workers", "playlists.nightly_two_workers/pass_1_seconds", "", _none),
        ("nightly", "sample snapshots failed", "playlists.nightly_two_workers/failed", "0", _at_most(0)),
        ("nightly", "of which deadlocks", "playlists.nightly_two_workers/deadlocks", "0", _at_most(0)),
        (
            "nightly",
            "100k playlists s, two workers (from the sample)",
            "playlists.nightly_two_workers/projected_seconds_per_100k",
            f"≤ {NIGHTLY_GOAL_SECONDS:g} s",
            _at_most(NIGHTLY_GOAL_SECONDS),
        ),
        (
            "nightly",
            "all active playlists s (from the sample)",
            "playlists.nightly_two_workers/projected_seconds_all_active",
            "",
            _none,
        ),
        (
            "alerts",
            "one pass of every rule, median ms",
            "alerts.evaluate/median_ms",
            f"≤ {ALERTS_GOAL_MS:g} ms",
            _at_most(ALERTS_GOAL_MS),
        ),
        ("alerts", "one pass, queries", "alerts.evaluate/queries", "unchanged", _equal),
        ("alerts", "rules", "alerts.evaluate/rules", "", _none),
        ("retention", "rows pruned", "metrics.retention_prune/rows", "", _none),
        ("retention", "rows pruned per s", "metrics.retention_prune/rows_per_second", "printed", _none),
        ("retention", "batch size", "metrics.retention_prune/batch_size", "bounded", _none),
        (
            "retention",
            "longest DELETE ms (row locks held)",
            "metrics.retention_prune/longest_delete_ms",
            f"≤ {STATEMENT_GOAL_MS:g} ms",
            _at_most(STATEMENT_GOAL_MS),
        ),
        (
            "retention",
            "longest statement ms",
            "metrics.retention_prune/longest_statement_ms",
            f"≤ {STATEMENT_GOAL_MS:g} ms",
            _at_most(STATEMENT_GOAL_MS),
        ),
    ]
    for phase in ("first_sync", "unchanged_sync", "reshuffle"):
        rows.append(("Spotify calls", f"{phase} calls / minimum", _sync_ratio(phase), "1.00", _at_most(1.0)))
    rows += [
        ("memory", "worker RSS MB after nightly run 1", _rss_after(1), "printed", _none),
        ("memory", "worker RSS MB after nightly run 2", _rss_after(2), "printed", _none),
        (
            "memory",
            "worker RSS growth MB, run 1 → 2",
            "playlists.nightly_two_workers/worker_rss_growth_mb",
            f"≤ {RSS_GROWTH_GOAL_MB:g} MB",
            _at_most(RSS_GROWTH_GOAL_MB),
        ),
        # The nightly run is Celery work that no gunicorn serves: gunicorn's is read after it
        # served every list and /health under load: a warm-up pass, then two more (bench/load.py).
        (
            "memory",
            "gunicorn worker RSS MB after serving the lists, pass 1",
            _max_of("load.gunicorn_rss/after_pass_1_mb"),
            "printed",
            _none,
        ),
        (
            "memory",
            "gunicorn worker RSS MB after serving the lists, pass 2",
            _max_of("load.gunicorn_rss/after_pass_2_mb"),
            "printed",
            _none,
        ),
        (
            "memory",
            "gunicorn worker RSS growth MB, pass 1 → 2",
            "load.gunicorn_rss/growth_mb",
            f"≤ {RSS_GROWTH_GOAL_MB:g} MB",
            _at_most(RSS_GROWTH_GOAL_MB),
        ),
    ]
    return rows


def table(small: dict[str, Any], large: dict[str, Any]) -> list[Row]:
    """The issue's table from two runs' `cases` dicts (the smaller fleet's, the scaled one's)."""
    rows = []
    for group, label, reader, goal, check in _spec():
        read = reader if callable(reader) else (lambda figures, path=reader: _dig(figures, path))
        a, b = read(small), read(large)
        rows.append(Row(group, label, a, b, _ratio(a, b), goal, check(a, b)))
    return rows


def format_table(rows: list[Row], scale: int) -> str:
    def cell(value: Any) -> str:
        if value is None:
            return "-"
        return f"{value:g}" if isinstance(value, float) else str(value)

    header = ("what", "×1", f"×{scale}", "ratio", "goal", "met")
    lines = [[f"{r.group}: {r.label}", cell(r.small), cell(r.large), cell(r.ratio), r.goal, r.verdict] for r in rows]
    widths = [max(len(str(line[i])) for line in [header, *lines]) for i in range(len(header))]
    out = ["  ".join(str(v).ljust(w) for v, w in zip(header, widths, strict=True))]
    out += ["  ".join(str(v).ljust(w) for v, w in zip(line, widths, strict=True)) for line in lines]
    return "\n".join(out)


def markdown_table(rows: list[Row], scale: int) -> str:
    """The table as BENCHMARKS.md records it."""

    def cell(value: Any) -> str:
        return "—" if value is None else (f"{value:g}" if isinstance(value, float) else str(value))

    out = [f"| figure | ×1 | ×{scale} | ratio | goal | met |", "|---|---|---|---|---|---|"]
    out += [
        f"| {r.group}: {r.label} | {cell(r.small)} | {cell(r.large)} | {cell(r.ratio)} | {r.goal} | {r.verdict} |" for r in rows
    ]
    return "\n".join(out)


def _database_names() -> tuple[str, str]:
    from bench.__main__ import _bench_database_url
    from devstack.runtime import bootstrap, load_local_env

    load_local_env()
    bootstrap()
    url, name, maintenance = _bench_database_url(os.environ["DATABASE_URL"])
    return name, maintenance


def _database_sizes(maintenance: str, names: list[str]) -> dict[str, str]:
    import psycopg

    with psycopg.connect(maintenance, autocommit=True) as conn:
        return {
            name: (row[0] if (row := conn.execute("SELECT pg_size_pretty(pg_database_size(%s))", [name]).fetchone()) else "-")
            for name in names
        }


def run_fleet(*, database: str, sizes: FleetSizes, results: Path, cases: list[str]) -> dict[str, Any]:
    """One `python -m bench` child on one fleet; returns its figures (`cases` of its results file)."""
    env = {**os.environ, "BENCH_DATABASE_NAME": database, "BENCH_RESULTS": str(results), "BENCH_SCALE_CHILD": "1"}
    env.update({f"BENCH_{name.upper()}": str(value) for name, value in asdict(sizes).items()})
    results.unlink(missing_ok=True)  # this run's figures only
    print(f"== {database}: {sizes}", flush=True)
    started = time.perf_counter()
    code = subprocess.call([sys.executable, "-m", "bench", *cases], env=env, cwd=BASE_DIR)
    print(f"== {database}: exit {code} in {time.perf_counter() - started:.0f} s", flush=True)
    return json.loads(results.read_text()).get("cases", {}) if results.exists() else {}


def main(argv: list[str]) -> int:
    started = time.perf_counter()
    scale = int(os.environ.get("BENCH_SCALE", "10"))
    if "--markdown" in argv:
        # The last run's table again, from its results files, for BENCHMARKS.md: nothing is run.
        saved = [json.loads((BASE_DIR / "var" / "bench" / f"scale_x{k}.json").read_text())["cases"] for k in (1, scale)]
        print(markdown_table(table(saved[0], saved[1]), scale))
        return 0
    cases = [a for a in argv if not a.startswith("-")] or SCALE_CASES
    base, maintenance = _database_names()
    sizes = FleetSizes.from_env()
    fleets = [(base, sizes, 1), (f"{base}_x{scale}", scaled(sizes, scale), scale)]
    figures = [
        run_fleet(database=name, sizes=fleet_sizes, results=BASE_DIR / "var" / "bench" / f"scale_x{k}.json", cases=cases)
        for name, fleet_sizes, k in fleets
    ]
    rows = table(figures[0], figures[1])
    print(f"\nthe fleet ×{scale} ({fleets[0][1]} against {fleets[1][1]}):")
    print(format_table(rows, scale))
    misses = [r for r in rows if r.met is False]
    print(f"\n{sum(r.met is True for r in rows)} PASS, {len(misses)} MISS, {sum(r.verdict == 'not run' for r in rows)} not run")
    print(f"wall time {time.perf_counter() - started:.0f} s")
    for name, size in _database_sizes(maintenance, [name for name, _, _ in fleets]).items():
        print(f"database {name}: {size}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
