"""Every API list and `/health` under load, against `/live` in the same run (wrk on 127.0.0.1).

gunicorn runs as in the demo (2 workers x 4 threads on this 2-core machine) on the bench
database; the load generator is wrk (`make bench` installs Debian's package), a C program
that costs the shared cores far less than the server it measures. Each target gets
`wrk -t2 -c16 -d<BENCH_LOAD_SECONDS>` (default 5 s) after a 1 s warm-up, right after a run of
`/live` of the same length, and is also reported as a share of that `/live` rate: on a machine
whose other load moves the absolute figures, the ratio is the figure to compare. Loopback only.
"""

from __future__ import annotations

import http.client
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import partial
from pathlib import Path

from bench.cpu import cpu_spent, server_processes_cpu
from bench.registry import Figures, register

SECONDS = float(os.environ.get("BENCH_LOAD_SECONDS", "5"))
CONCURRENCY = int(os.environ.get("BENCH_LOAD_CONCURRENCY", "16"))
THREADS = 2
GUNICORN_WORKERS = int(os.environ.get("BENCH_GUNICORN_WORKERS", "2"))
GUNICORN_THREADS = int(os.environ.get("BENCH_GUNICORN_THREADS", "4"))
LOG = Path(__file__).resolve().parent.parent / "var" / "bench" / "gunicorn.log"

# (name, path, with the API token); `/live` is the stack's own ceiling: Django, no database.
TARGETS: list[tuple[str, str, bool]] = [
    ("health", "/health", False),
    ("api_tracks", "/api/v1/tracks", True),
    ("api_accounts", "/api/v1/accounts/list", True),
    ("api_playlists", "/api/v1/playlists", True),
    ("api_job_runs", "/api/v1/job-runs", True),
    ("api_dlq_messages", "/api/v1/dlq/messages", True),
    ("api_alerts", "/api/v1/alerts", True),
]

_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _answers(port: int, path: str) -> bool:
    try:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
        conn.request("GET", path)
        return conn.getresponse().status == 200
    except OSError:
        return False


@contextmanager
def gunicorn() -> Iterator[tuple[int, int]]:
    """A gunicorn on a free loopback port, serving the bench database: (port, master pid); stopped on exit."""
    from django.db import connections

    # The server's workers open their own connections; ours must not hold the fleet's locks.
    connections.close_all()
    port = _free_port()
    LOG.parent.mkdir(parents=True, exist_ok=True)
    log = LOG.open("w")
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "opsconsole.wsgi:application",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            str(GUNICORN_WORKERS),
            "--threads",
            str(GUNICORN_THREADS),
            "--log-level",
            "warning",
        ],
        env={**os.environ},
        cwd=LOG.parent.parent.parent,
        # Its log lines (health is degraded: no worker runs here) stay out of the figures.
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 60
        while not _answers(port, "/live"):
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("gunicorn did not start")
            time.sleep(0.2)
        yield port, process.pid
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


def _ms(value: str) -> float:
    match = re.fullmatch(r"([\d.]+)(us|ms|s|m)", value)
    if not match:
        raise ValueError(f"wrk latency {value!r}")
    return round(float(match[1]) * _UNITS[match[2]], 2)


def parse_wrk(output: str) -> Figures:
    """req/s, p50, p99, requests and errors from `wrk --latency` output."""
    figures: Figures = {}
    if match := re.search(r"Requests/sec:\s+([\d.]+)", output):
        figures["requests_per_second"] = round(float(match[1]), 1)
    if match := re.search(r"(\d+) requests in ([\d.]+\w+)", output):
        figures["requests"] = int(match[1])
    for percent in ("50", "99"):
        if match := re.search(rf"^\s+{percent}(?:\.000)?%\s+([\d.]+\w+)", output, re.MULTILINE):
            figures[f"p{percent}_ms"] = _ms(match[1])
    errors = 0
    if match := re.search(r"Non-2xx or 3xx responses: (\d+)", output):
        errors += int(match[1])
    if match := re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output):
        errors += sum(int(n) for n in match.groups())
    figures["errors"] = errors
    return figures


def wrk(port: int, path: str, *, token: str | None, seconds: float = SECONDS, concurrency: int = CONCURRENCY) -> Figures:
    """`wrk -t2 -c<concurrency> -d<seconds> --latency` against one path (with the token header)."""
    binary = shutil.which("wrk")
    if binary is None:
        raise RuntimeError("wrk is not installed: `make bench` installs it (sudo apt-get install wrk)")
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        if token:
            script.write(f'wrk.headers["Authorization"] = "Token {token}"\n')
    try:
        command = [
            binary,
            f"-t{THREADS}",
            f"-c{concurrency}",
            f"-d{seconds:g}s",
            "--timeout",
            "10s",
            "--latency",
            "-s",
            script.name,
            f"http://127.0.0.1:{port}{path}",
        ]
        done = subprocess.run(command, capture_output=True, text=True, timeout=seconds + 30, check=True)
    finally:
        os.unlink(script.name)
    return {"path": path, **parse_wrk(done.stdout)}


def measured(master: int, run: Callable[[], Figures]) -> Figures:
    """`run`'s figures plus the server CPU each of its requests cost (ms), by process role."""
    before = server_processes_cpu(master)
    figures = run()
    spent = cpu_spent(before, server_processes_cpu(master))
    requests = figures.get("requests") or 0
    if requests:
        per_role = {role: round(1000 * seconds / requests, 3) for role, seconds in spent.items()}
        figures["cpu_ms_per_request_by_role"] = per_role
        figures["cpu_ms_per_request"] = round(sum(per_role.values()), 3)
    return figures


def _api_token() -> str:
    from django.contrib.auth.models import User

    from audit.api_tokens import api_token_create

    # Keys are stored as digests only: each run mints its own, for a day.
    _, api_key = api_token_create(user=User.objects.get(username="bench"), actor="cli:bench", name="bench", expires_days=1)
    return api_key


@register("load.health_and_api")
def load_health_and_api() -> Figures:
    token = _api_token()
    figures: Figures = {}
    with gunicorn() as (port, master):
        for _, path, with_token in [("live", "/live", False), *TARGETS]:
            # Warm-up: imports, connections.
            wrk(port, path, token=token if with_token else None, seconds=1)
        lives = []
        for name, path, with_token in TARGETS:
            # /live right before each target: the machine's other load moves both alike.
            live = measured(master, partial(wrk, port, "/live", token=None))
            lives.append(live)
            figures[name] = measured(master, partial(wrk, port, path, token=token if with_token else None))
            figures[name]["live_requests_per_second"] = live.get("requests_per_second")
            figures[name]["live_cpu_ms_per_request"] = live.get("cpu_ms_per_request")
    rates = [live.get("requests_per_second", 0) for live in lives]
    figures["live"] = {**lives[0], "requests_per_second": round(sum(rates) / len(rates), 1), "runs": rates}
    # Shares of /live, printed without a goal: the lists' figures were accepted as they are and
    # /health is computed per request from heartbeats (BENCHMARKS.md).
    for name, _, _ in TARGETS:
        rate, live_rate = figures[name].get("requests_per_second"), figures[name].get("live_requests_per_second")
        share = round(rate / live_rate, 3) if rate is not None and live_rate else None
        cost, live_cost = figures[name].get("cpu_ms_per_request"), figures[name].get("live_cpu_ms_per_request")
        figures[name].update(
            share_of_live=share,
            # The same share from what each request cost the web, database and Redis processes:
            # steadier than the rates when the machine's other tenants come and go.
            cpu_share_of_live=round(live_cost / cost, 3) if cost and live_cost else None,
        )
    figures.update(
        server=f"gunicorn {GUNICORN_WORKERS} workers x {GUNICORN_THREADS} threads",
        load=f"wrk -t{THREADS} -c{CONCURRENCY} -d{SECONDS:g}s",
    )
    return figures


def _workers_rss_mb(master: int) -> list[float]:
    """VmRSS (MB) of each gunicorn worker of `master`."""
    import psutil

    return sorted(round(child.memory_info().rss / 2**20, 1) for child in psutil.Process(master).children())


@register("load.gunicorn_rss")
def load_gunicorn_rss() -> Figures:
    """Gunicorn's workers' memory after serving every list and `/health` under load: a warm-up
    pass fills what a worker keeps (imports, connections, the allocator's arenas), then two passes
    more; the second adding to the first would be a leak (BENCH_LOAD_SECONDS per target and pass)."""
    token = _api_token()
    figures: Figures = {}

    def serve_every_list() -> None:
        for _, path, with_token in TARGETS:
            wrk(port, path, token=token if with_token else None)

    with gunicorn() as (port, master):
        figures["after_start_mb"] = _workers_rss_mb(master)
        serve_every_list()
        figures["after_warmup_mb"] = _workers_rss_mb(master)
        for number in (1, 2):
            serve_every_list()
            figures[f"after_pass_{number}_mb"] = _workers_rss_mb(master)
    figures["growth_mb"] = round(
        max(b - a for a, b in zip(figures["after_pass_1_mb"], figures["after_pass_2_mb"], strict=True)), 1
    )
    figures["server"] = f"gunicorn {GUNICORN_WORKERS} workers x {GUNICORN_THREADS} threads"
    return figures
