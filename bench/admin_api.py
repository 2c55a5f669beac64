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
# The admin's search box given a pasted id (bench/fleet.py's ids of row 7): an index lookup each.
ADMIN_SEARCHES = {
    "search_tracks_by_spotify_id": "/admin/ingest/track/?q=bt00000000000000000007",
    "search_tracks_by_isrc": "/admin/ingest/track/?q=QZBEN0000007",
    "search_playlists_by_spotify_id": "/admin/playlists/playlist/?q=bp00000000000000000007",
}
API_PAGES = {
    "accounts": "/api/v1/accounts/list",
    "playlists": "/api/v1/playlists",
    "tracks": "/api/v1/tracks",
    "job_runs": "/api/v1/job-runs",
    "dlq_messages": "/api/v1/dlq/messages",
}
# Filtered API pages (fleet ids of row 7, the filters the API documents): each reads one slice.
API_FILTERED = {
    "tracks_by_id": "/api/v1/tracks?search=bt00000000000000000007",
    "tracks_of_artist": "/api/v1/tracks?artist=ba00000000000000000007",
    "playlists_sync_failed": "/api/v1/playlists?sync_state=failed",
    "job_runs_of_job_failed": "/api/v1/job-runs?job=retention&status=failed",
    "accounts_degraded": "/api/v1/accounts/list?health=degraded",
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
    if response.status_code != 200:
        # A redirect or a refusal is not the page: never record its timings as the page's.
        raise RuntimeError(f"GET {path}: HTTP {response.status_code}")
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
            figures.update(
                queries_at_10_rows=small["queries"], queries_at_200_rows=large["queries"], median_ms_200_rows=large["median_ms"]
            )
        elif name == "dlq_messages":
            client = _client()
            small = measure(client, f"{path}?limit=10", requests=1)
            large = measure(client, f"{path}?limit=200", requests=3)
            figures.update(
                queries_at_10_rows=small["queries"], queries_at_200_rows=large["queries"], median_ms_200_rows=large["median_ms"]
            )
        return figures

    register(f"{kind}.{name}")(run)


for _name, _path in {**ADMIN_PAGES, **ADMIN_SEARCHES}.items():
    _page_case("admin", _name, _path)
for _name, _path in API_PAGES.items():
    _page_case("api", _name, _path)
for _name, _path in API_FILTERED.items():
    register(f"api.filtered_{_name}")(lambda path=_path: measure(_client(), path))


# --- the API token cache: what it saves a list request ------------------------------------------

TOKEN_CACHE_REQUESTS = int(os.environ.get("BENCH_TOKEN_CACHE_REQUESTS", "20"))
TOKEN_CACHE_BLOCKS = int(os.environ.get("BENCH_TOKEN_CACHE_BLOCKS", "6"))
TOKEN_CACHE_PATHS = {"live": "/live", **API_PAGES, "alerts": "/api/v1/alerts"}
# core/authentication.py's cache stays only while it saves at least this share of a list's CPU.
TOKEN_CACHE_WORTH_GOAL = 0.15


def _redis_pids() -> list[int]:
    """The redis-server serving REDIS_URL (its port on the command line), if it runs here."""
    from pathlib import Path
    from urllib.parse import urlsplit

    from django.conf import settings

    port = urlsplit(settings.REDIS_URL).port
    pids = []
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and port and f":{port}".encode() in (entry / "cmdline").read_bytes():
                pids.append(int(entry.name))
        except OSError:
            continue
    return pids


def _cpu_ms_per_request(client: Any, path: str, *, database_pid: int, redis_pids: list[int]) -> float:
    """This process's CPU, its PostgreSQL backend's and Redis' over TOKEN_CACHE_REQUESTS requests, per request."""
    from bench.cpu import process_cpu_seconds

    def server_seconds() -> float:
        return sum(process_cpu_seconds(pid) or 0.0 for pid in [database_pid, *redis_pids])

    for _ in range(WARMUP):
        assert client.get(path).status_code == 200, path
    started, server_started = time.process_time(), server_seconds()
    for _ in range(TOKEN_CACHE_REQUESTS):
        client.get(path)
    spent = time.process_time() - started + server_seconds() - server_started
    return 1000 * spent / TOKEN_CACHE_REQUESTS


@register("api.token_cache", rollback=True)
def api_token_cache() -> Figures:
    """Each API list with a token, API_TOKEN_CACHE_SECONDS 60 against 0 (every request looks the
    token and the groups up, as without the cache), in alternating blocks of one process, so the
    machine's other load moves both alike; /live in the same blocks. As the bench superuser (the
    load case's token) and as a member of `viewers` (a group lookup more)."""
    from django.contrib.auth.models import Group, User
    from django.db import connection
    from django.test import Client, override_settings
    from django.test.utils import CaptureQueriesContext

    from audit.api_tokens import api_token_create
    from core.authentication import token_cache

    viewer = User.objects.create_user("bench-token-viewer", is_staff=True)
    viewer.groups.add(Group.objects.get_or_create(name="viewers")[0])
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        database_pid = int(cursor.fetchone()[0])
    redis_pids = _redis_pids()
    figures: Figures = {"requests": TOKEN_CACHE_REQUESTS, "blocks": TOKEN_CACHE_BLOCKS, "goal_worth": TOKEN_CACHE_WORTH_GOAL}
    for who, user in (("superuser", User.objects.get(username="bench")), ("viewer", viewer)):
        _, api_key = api_token_create(user=user, actor="cli:bench", name="bench", expires_days=1)
        client = Client(HTTP_HOST="127.0.0.1", HTTP_AUTHORIZATION=f"Token {api_key}")
        samples: dict[tuple[int, str], list[float]] = {}
        queries: dict[tuple[int, str], int] = {}
        for block in range(TOKEN_CACHE_BLOCKS):
            for seconds in (60, 0) if block % 2 == 0 else (0, 60):
                with override_settings(API_TOKEN_CACHE_SECONDS=seconds):
                    token_cache.forget_all()
                    for name, path in TOKEN_CACHE_PATHS.items():
                        cost = _cpu_ms_per_request(client, path, database_pid=database_pid, redis_pids=redis_pids)
                        samples.setdefault((seconds, name), []).append(cost)
                        if block == 0:
                            with CaptureQueriesContext(connection) as captured:
                                client.get(path)
                            queries[(seconds, name)] = len(captured.captured_queries)
        cost = {key: statistics.median(values) for key, values in samples.items()}
        # /live does not authenticate: one figure from both modes' blocks.
        live = statistics.median(samples[(60, "live")] + samples[(0, "live")])
        lists: Figures = {}
        for name in TOKEN_CACHE_PATHS:
            if name == "live":
                continue
            with_cache, without = cost[(60, name)], cost[(0, name)]
            lists[name] = {
                "cpu_ms_with_cache": round(with_cache, 2),
                "cpu_ms_without": round(without, 2),
                "per_live_with_cache": round(with_cache / live, 2),
                "per_live_without": round(without / live, 2),
                "queries_with_cache": queries[(60, name)],
                "queries_without": queries[(0, name)],
                # The share of the list's CPU (without the cache) that the cache saves.
                "worth": round(1 - with_cache / without, 3) if without else None,
            }
        worth = [entry["worth"] for entry in lists.values() if entry["worth"] is not None]
        figures[who] = {
            "live_cpu_ms": round(live, 2),
            "lists": lists,
            "median_worth": round(statistics.median(worth), 3),
            "meets_goal": statistics.median(worth) >= TOKEN_CACHE_WORTH_GOAL,
        }
    return figures
