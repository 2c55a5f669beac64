"""A process (a test session through devstack.testing's pytest_sessionfinish) stops the embedded
servers it started, and never the ones it found running, e.g. a demo's."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

from devstack.runtime import BASE_DIR, _redis_answers

SCRIPT = """
import json, os
from devstack.runtime import STARTED, bootstrap, stop_started
bootstrap()
print(json.dumps({{"started": sorted(STARTED), "stopped": stop_started() if {stop} else []}}))
"""


def _run(var_dir: Path, *, stop: bool) -> dict[str, list[str]]:
    env = {**os.environ, "OPSCONSOLE_VAR_DIR": str(var_dir)}
    env.pop("REDIS_URL", None)  # the embedded Redis; the database stays the one the tests use
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT.format(stop=stop)], cwd=BASE_DIR, env=env, capture_output=True, text=True, check=True
    )
    return json.loads(result.stdout.strip().splitlines()[-1])


def _redis_up(var_dir: Path) -> bool:
    return _redis_answers(int((var_dir / "redis" / "port").read_text()))


def test_a_process_stops_the_redis_it_started_and_leaves_one_it_found(tmp_path: Path) -> None:
    assert _run(tmp_path, stop=True) == {"started": ["redis"], "stopped": ["redis"]}
    for _ in range(100):
        if not _redis_up(tmp_path):
            break
        time.sleep(0.05)
    assert not _redis_up(tmp_path)

    # A demo's Redis is up (started and kept); the next process only reuses it.
    assert _run(tmp_path, stop=False) == {"started": ["redis"], "stopped": []}
    try:
        assert _run(tmp_path, stop=True) == {"started": [], "stopped": []}
        assert _redis_up(tmp_path)
    finally:
        env = {**os.environ, "OPSCONSOLE_VAR_DIR": str(tmp_path)}
        subprocess.run(
            [sys.executable, "-c", "from devstack.runtime import stop_redis; stop_redis()"], cwd=BASE_DIR, env=env, check=True
        )


def test_the_embedded_redis_keeps_its_data_and_port_across_a_restart(tmp_path: Path) -> None:
    """Queued tasks, locks and counters live in it: the soak's Redis restart found them all gone."""
    env = {**os.environ, "OPSCONSOLE_VAR_DIR": str(tmp_path)}
    env.pop("REDIS_URL", None)

    def run(code: str) -> str:
        result = subprocess.run([sys.executable, "-c", code], cwd=BASE_DIR, env=env, capture_output=True, text=True, check=True)
        return result.stdout.strip()

    first = run(
        "import redis; from devstack.runtime import ensure_redis; u = ensure_redis(); redis.Redis.from_url(u).set('kept', 'yes'); print(u)"
    )
    try:
        run("from devstack.runtime import stop_redis; stop_redis(wait=True)")
        assert not _redis_up(tmp_path)
        again = run(
            "import redis; from devstack.runtime import ensure_redis; u = ensure_redis(); print(u, redis.Redis.from_url(u).get('kept'))"
        )
        assert again == f"{first} b'yes'"
    finally:
        run("from devstack.runtime import stop_redis; stop_redis(wait=True)")
