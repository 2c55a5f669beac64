"""Admin changelists and API list endpoints on the fleet: queries per page and median ms.

Through Django's test client in this process, logged in as the bench superuser: the figures
are the application's (ORM, templates, serializers, SQL), without HTTP or gunicorn in the way
(bench/load.py measures those). Each page is requested BENCH_REQUESTS times (default 20) after
two warm-up requests; queries are counted with CaptureQueriesContext on the last request.
"""

from __future__ import annotations

import json
import os
import statistics
import time
from typing import Any

from bench.registry import Figures, register

REQUESTS = int(os.environ.get("BENCH_REQUESTS", "20"))
WARMUP = 2
TRACKS_FIRST_PAGE_TARGET_MS = 150.0

ADMIN_PAGES = {
    "accounts": "/admin/accounts/spotifyaccount/",
    "playlists": "/admin/playlists/playlist/",
    "tracks": "/admin/ingest/track/",
    "job_runs": "/admin/jobs/jobrun/",
    "dead_letters": "/admin/ingest/deadletter/",
}
API_PAGES = {
    "accounts": "/api/v1/accounts/list",
    "playlists": "/api/v1/playlists",
    "tracks": "/api/v1/tracks",
    "job_runs": "/api/v1/job-runs",
    "dlq_messages": "/api/v1/dlq/messages",
}


def _client() -> Any:
    from django.contrib.auth.models import User
    from django.test import Client

    # 127.0.0.1 is in ALLOWED_HOSTS; the test client's default "testserver" is not.
    client = Client(HTTP_HOST="127.0.0.1")
    client.force_login(User.objects.get(username="bench"))
    return client


def _rows(path: str, content: bytes) -> int:
    if path.startswith("/admin/"):
        return content.count(b'class="action-select"')
    body = json.loads(content)
    return len(body.get("results", body.get("messages", [])))


def measure(client: Any, path: str, *, requests: int = REQUESTS) -> Figures:
    """Status, rows, queries and timings of GET `path`, and the CPU a request cost this process and
    its own PostgreSQL backend: steadier than the milliseconds on a machine others share, and unlike
    the load case's database figure, no other session's queries are counted."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from bench.cpu import process_cpu_seconds

    for _ in range(WARMUP):
        response = client.get(path)
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        backend = cursor.fetchone()[0]
    timings = []
    cpu_started, database_started = time.process_time(), process_cpu_seconds(backend)
    for _ in range(requests):
        started = time.perf_counter()
        response = client.get(path)
        timings.append((time.perf_counter() - started) * 1000)
    cpu_ms = (time.process_time() - cpu_started) * 1000 / requests
    database_ended = process_cpu_seconds(backend)
    database_cpu_ms = None
    if database_started is not None and database_ended is not None:  # None: a server on another machine
        database_cpu_ms = round((database_ended - database_started) * 1000 / requests, 2)
    with CaptureQueriesContext(connection) as queries:
        response = client.get(path)
    slowest = max(queries.captured_queries, key=lambda q: float(q["time"]), default={"sql": "", "time": "0"})
    return {
        "path": path,
        "status": response.status_code,
        "rows": _rows(path, response.content) if response.status_code == 200 else 0,
        "queries": len(queries.captured_queries),
        "median_ms": round(statistics.median(timings), 1),
        "p90_ms": round(sorted(timings)[int(len(timings) * 0.9) - 1], 1),
        "slowest_query_ms": round(float(slowest["time"]) * 1000, 1),
        "cpu_ms": round(cpu_ms, 2),
        "database_cpu_ms": database_cpu_ms,
    }


def _page_case(kind: str, name: str, path: str) -> None:
    def run() -> Figures:
        figures = measure(_client(), path)
        if name == "tracks":
            figures["target_ms"] = TRACKS_FIRST_PAGE_TARGET_MS
            figures["meets_target"] = figures["median_ms"] < TRACKS_FIRST_PAGE_TARGET_MS
        if kind == "api" and name != "dlq_messages":
            # Queries must not grow with rows: the same page at 10 and at 200 rows.
            client = _client()
            small = measure(client, f"{path}?page_size=10", requests=1)
            large = measure(client, f"{path}?page_size=200", requests=3)
            figures.update(queries_at_10_rows=small["queries"], queries_at_200_rows=large["queries"], median_ms_200_rows=large["median_ms"])
        elif name == "dlq_messages":
            client = _client()
            small = measure(client, f"{path}?limit=10", requests=1)
            large = measure(client, f"{path}?limit=200", requests=3)
            figures.update(queries_at_10_rows=small["queries"], queries_at_200_rows=large["queries"], median_ms_200_rows=large["median_ms"])
        return figures

    register(f"{kind}.{name}")(run)


for _name, _path in ADMIN_PAGES.items():
    _page_case("admin", _name, _path)
for _name, _path in API_PAGES.items():
    _page_case("api", _name, _path)
