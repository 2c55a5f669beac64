"""`/health` and one API list under concurrent load against gunicorn on 127.0.0.1.

gunicorn runs as in the demo (2 workers x 4 threads on this 2-core machine) on the bench
database; the load generator is Python threads on keep-alive http.client connections,
bounded in time (BENCH_LOAD_SECONDS, default 10 s per target). Loopback only. Client and
server share the same two cores, so the figures are a floor, not a ceiling.
"""

from __future__ import annotations

import http.client
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from bench.registry import Figures, register

SECONDS = float(os.environ.get("BENCH_LOAD_SECONDS", "10"))
CONCURRENCY = int(os.environ.get("BENCH_LOAD_CONCURRENCY", "16"))
GUNICORN_WORKERS = int(os.environ.get("BENCH_GUNICORN_WORKERS", "2"))
GUNICORN_THREADS = int(os.environ.get("BENCH_GUNICORN_THREADS", "4"))
API_LIST = "/api/v1/tracks"
LOG = Path(__file__).resolve().parent.parent / "var" / "bench" / "gunicorn.log"


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
def gunicorn() -> Iterator[int]:
    """A gunicorn on a free loopback port, serving the bench database; stopped on exit."""
    from django.db import connections

    # The server's workers open their own connections; ours must not hold the fleet's locks.
    connections.close_all()
    port = _free_port()
    LOG.parent.mkdir(parents=True, exist_ok=True)
    log = LOG.open("w")
    process = subprocess.Popen(
        [
            sys.executable, "-m", "gunicorn", "opsconsole.wsgi:application", "--bind", f"127.0.0.1:{port}",
            "--workers", str(GUNICORN_WORKERS), "--threads", str(GUNICORN_THREADS), "--log-level", "warning",
        ],
        env={**os.environ},
        cwd=LOG.parent.parent.parent,
        # Its log lines (a degraded health per probe: no worker runs here) stay out of the figures.
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 60
        while not _answers(port, "/live"):
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("gunicorn did not start")
            time.sleep(0.2)
        yield port
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


def hammer(port: int, path: str, *, headers: dict[str, str], seconds: float = SECONDS, concurrency: int = CONCURRENCY) -> Figures:
    """`concurrency` threads GET `path` back to back for `seconds`: throughput and latency."""
    latencies: list[list[float]] = [[] for _ in range(concurrency)]
    errors = [0] * concurrency
    deadline = time.monotonic() + seconds

    def worker(slot: int) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        while time.monotonic() < deadline:
            started = time.perf_counter()
            try:
                conn.request("GET", path, headers=headers)
                response = conn.getresponse()
                response.read()
                ok = response.status == 200
                if response.getheader("Connection", "").lower() == "close":
                    conn.close()
            except (OSError, http.client.HTTPException):
                ok = False
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            latencies[slot].append((time.perf_counter() - started) * 1000)
            if not ok:
                errors[slot] += 1
        conn.close()

    started = time.perf_counter()
    threads = [threading.Thread(target=worker, args=(n,), daemon=True) for n in range(concurrency)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    every = sorted(ms for slot in latencies for ms in slot)
    count = len(every)

    def percentile(p: float) -> float:
        return round(every[min(count - 1, int(count * p))], 1) if count else 0.0

    return {
        "path": path,
        "seconds": round(elapsed, 1),
        "concurrency": concurrency,
        "requests": count,
        "errors": sum(errors),
        "requests_per_second": round(count / elapsed, 1),
        "p50_ms": percentile(0.50),
        "p99_ms": percentile(0.99),
        "server": f"gunicorn {GUNICORN_WORKERS} workers x {GUNICORN_THREADS} threads",
    }


def _api_token() -> str:
    from django.contrib.auth.models import User
    from rest_framework.authtoken.models import Token

    token, _ = Token.objects.get_or_create(user=User.objects.get(username="bench"))
    return token.key


@register("load.health_and_api")
def load_health_and_api() -> Figures:
    token = _api_token()
    with gunicorn() as port:
        health = hammer(port, "/health", headers={})
        api = hammer(port, API_LIST, headers={"Authorization": f"Token {token}"})
    from django.conf import settings

    return {"health": health, "api_list": api, "health_cache_seconds": settings.HEALTH_CACHE_SECONDS}

