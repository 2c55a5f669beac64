"""The nightly snapshot run with two workers, and what a worker's memory does across two runs.

Two processes (`python -m bench.nightly worker <ids file>`) each take half of
BENCH_NIGHTLY_PLAYLISTS active fleet playlists (default 1,000; fewer if the fleet has fewer)
and snapshot them as the `build_playlist_snapshot` job does: chunks of SNAPSHOT_CHUNK through
`playlists_build_snapshots`. Each does it twice (two nights),
each chunk in a transaction of its own, rolled back instead of committed, so the fleet stays
as built (and the second run samples against the same history as the first). The figure is
the wall time of the first pass from the first start to the last end; on a fleet with more active
playlists than the sample, the time for all of them is extrapolated linearly (`projected_*`).
RSS is each worker's VmRSS after Django's setup and after each pass.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.registry import Figures, register

SAMPLE = int(os.environ.get("BENCH_NIGHTLY_PLAYLISTS", "1000"))
WORKERS = 2
PASSES = 2
# The goal: 100,000 playlists in five minutes with two workers.
GOAL_SECONDS_PER_100K = 300.0


def _rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return round(int(line.split()[1]) / 1024, 1)
    return 0.0


@register("playlists.nightly_two_workers")
def nightly_two_workers() -> Figures:
    from playlists.models import Playlist

    active = Playlist.objects.filter(status=Playlist.Status.ACTIVE)
    total = active.count()
    ids = [str(pk) for pk in active.order_by("pk").values_list("pk", flat=True)[:SAMPLE]]
    reports = []
    with tempfile.TemporaryDirectory() as tmp:
        children = []
        for n in range(WORKERS):
            path = Path(tmp) / f"ids-{n}.json"
            path.write_text(json.dumps(ids[n::WORKERS]))
            children.append(
                subprocess.Popen(
                    [sys.executable, "-m", "bench.nightly", "worker", str(path)],
                    stdout=subprocess.PIPE,
                    text=True,
                    cwd=Path(__file__).resolve().parent.parent,
                )
            )
        for child in children:
            out, _ = child.communicate()
            if child.returncode:
                raise RuntimeError(f"nightly worker exited {child.returncode}")
            reports.append(json.loads(out.strip().splitlines()[-1]))
    figures: Figures = {"active_playlists": total, "sample": len(ids), "workers": WORKERS}
    for n in range(PASSES):
        wall = max(r["passes"][n]["ended"] for r in reports) - min(r["passes"][n]["started"] for r in reports)
        figures[f"pass_{n + 1}_seconds"] = round(wall, 1)
    figures["built"] = sum(r["passes"][0]["built"] for r in reports)
    figures["failed"] = sum(r["passes"][0]["failed"] for r in reports)
    figures["deadlocks"] = sum(r["passes"][0]["deadlocks"] for r in reports)
    figures["short"] = sum(r["passes"][0]["short"] for r in reports)
    figures["errors"] = [error for r in reports for error in r["passes"][0]["errors"]][:3]
    figures["ms_per_playlist_per_worker"] = round(figures["pass_1_seconds"] * 1000 * WORKERS / max(len(ids), 1), 2)
    figures["projected_seconds_all_active"] = round(figures["pass_1_seconds"] * total / max(len(ids), 1), 1)
    figures["projected_seconds_per_100k"] = round(figures["pass_1_seconds"] * 100_000 / max(len(ids), 1), 1)
    figures["goal_seconds_per_100k"] = GOAL_SECONDS_PER_100K
    figures["extrapolated"] = total > len(ids)
    figures["worker_rss_mb"] = [
        {"after_setup": r["rss_setup_mb"], **{f"after_pass_{n + 1}": p["rss_mb"] for n, p in enumerate(r["passes"])}}
        for r in reports
    ]
    figures["worker_rss_growth_mb"] = max(r["passes"][-1]["rss_mb"] - r["passes"][0]["rss_mb"] for r in reports)
    return figures


def _worker(ids_path: str) -> dict[str, Any]:
    import django

    django.setup()
    import logging

    logging.getLogger("playlists").setLevel(logging.CRITICAL)
    from django.db import transaction

    from playlists.services import playlists_build_snapshots
    from playlists.tasks import SNAPSHOT_CHUNK

    ids = json.loads(Path(ids_path).read_text())
    report: dict[str, Any] = {"playlists": len(ids), "rss_setup_mb": _rss_mb(), "passes": []}
    for _ in range(PASSES):
        started = time.time()
        built = failed = short = deadlocks = 0
        errors: list[str] = []
        for start in range(0, len(ids), SNAPSHOT_CHUNK):
            # One transaction per chunk as the job's (its locks held as long), rolled back
            # instead of committed: the fleet stays as built.
            with transaction.atomic():
                result = playlists_build_snapshots(playlist_ids=ids[start : start + SNAPSHOT_CHUNK], actor="bench")
                transaction.set_rollback(True)
            built += result["built"]
            failed += len(result["failed"])
            deadlocks += sum("deadlock detected" in entry["error"] for entry in result["failed"])
            errors += [entry["error"] for entry in result["failed"]][: 3 - len(errors)]
            short += len(result["short"])
        report["passes"].append(
            {
                "started": started,
                "ended": time.time(),
                "built": built,
                "failed": failed,
                "deadlocks": deadlocks,
                "errors": errors,
                "short": short,
                "rss_mb": _rss_mb(),
            }
        )
    return report


if __name__ == "__main__":
    if sys.argv[1:2] != ["worker"]:
        sys.exit("usage: python -m bench.nightly worker <ids file> (started by the playlists.nightly_two_workers case)")
    print(json.dumps(_worker(sys.argv[2])), flush=True)
