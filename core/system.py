"""Readings of the database server and the machines: connections, disk and memory.

One reading serves both the alert conditions (db_connections_high, disk_space_high,
memory_high) and their /metrics gauges, so the console and Prometheus see the same number.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import socket
import time
from dataclasses import dataclass
from pathlib import Path

import psutil
from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, DatabaseError, connections, transaction

from core.redis import get_redis, key

logger = logging.getLogger(__name__)

# A pool process that has not reported for this long is gone (a recycled child, a stopped worker).
WORKER_MEMORY_MAX_AGE_SECONDS = 600
_LOCAL_HOSTS = ("", "localhost", "127.0.0.1", "::1")


@dataclass(frozen=True)
class Usage:
    """`used` of `limit` (connections, bytes) for one subject: "database", "var", "host", "worker:<name>"."""

    subject: str
    label: str
    used: float
    limit: float

    @property
    def ratio(self) -> float:
        return self.used / self.limit if self.limit else 0.0


def database_connections(*, using: str = DEFAULT_DB_ALIAS) -> Usage:
    """Client connections to the PostgreSQL server (every database) against `max_connections`."""
    with connections[using].cursor() as cursor:
        # pg_stat_activity is read once per transaction: drop that snapshot, or a caller inside a
        # long transaction keeps seeing its first count.
        cursor.execute("SELECT pg_stat_clear_snapshot()")
        cursor.execute("SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend'")
        (used,) = cursor.fetchone()
        cursor.execute("SHOW max_connections")
        (maximum,) = cursor.fetchone()
    return Usage("database", "PostgreSQL connections", float(used), float(maximum))


def database_data_directory(*, using: str = DEFAULT_DB_ALIAS) -> Path | None:
    """The server's data directory, when the server runs on this machine and may tell us."""
    host = str(connections[using].settings_dict.get("HOST") or "")
    if host not in _LOCAL_HOSTS and not host.startswith("/"):
        return None
    try:
        with transaction.atomic(using=using), connections[using].cursor() as cursor:
            # Only superusers and members of pg_read_all_settings may read it: ask first, rather
            # than leave a permission error in the server's log at every evaluation and scrape.
            cursor.execute(
                "SELECT CASE WHEN pg_has_role('pg_read_all_settings', 'USAGE') THEN current_setting('data_directory') END"
            )
            (directory,) = cursor.fetchone()
    except DatabaseError as exc:
        logger.info("database data directory not readable: %s", exc)
        return None
    if not directory:
        return None
    path = Path(directory)
    return path if path.is_absolute() and path.exists() else None


def var_directory() -> Path:
    """var/: backups, logs, the embedded servers' data, mail files."""
    return Path(settings.BASE_DIR) / "var"


def _disk(subject: str, label: str, path: Path) -> Usage:
    usage = shutil.disk_usage(path)
    # As df's Use%: blocks reserved for root count neither as used nor as available.
    return Usage(subject, label, float(usage.used), float(usage.used + usage.free))


def disk_usages(*, using: str = DEFAULT_DB_ALIAS) -> list[Usage]:
    """The disks of the database's data directory (when local and readable) and of var/."""
    readings = []
    data_directory = database_data_directory(using=using)
    if data_directory is not None:
        try:
            readings.append(_disk("database", f"database data directory {data_directory}", data_directory))
        except OSError as exc:
            logger.info("database data directory not measurable: %s", exc)
    var = var_directory()
    if var.is_dir():
        readings.append(_disk("var", f"var/ ({var})", var))
    return readings


def host_memory() -> Usage:
    """The memory in use (total - available, as `free` shows it) of the machine this runs on.
    One subject, "host", whichever process reads it: the evaluator job runs on any worker."""
    memory = psutil.virtual_memory()
    return Usage("host", f"host {socket.gethostname()}", float(memory.total - memory.available), float(memory.total))


def _worker_memory_key() -> str:
    return key("worker-memory")


def worker_memory_record(*, worker: str) -> None:
    """Report this process's resident memory as one of `worker`'s pool processes."""
    entry = json.dumps({"rss": psutil.Process().memory_info().rss, "at": time.time()})
    pipe = get_redis().pipeline(transaction=False)
    pipe.hset(_worker_memory_key(), f"{worker}|{os.getpid()}", entry)
    pipe.expire(_worker_memory_key(), WORKER_MEMORY_MAX_AGE_SECONDS * 6)
    pipe.execute()


def worker_memory() -> list[Usage]:
    """Per worker, its largest pool process against WORKER_MEMORY_LIMIT_MB (none when 0)."""
    limit = float(settings.WORKER_MEMORY_LIMIT_MB) * 1024 * 1024
    client = get_redis()
    largest: dict[str, float] = {}
    stale = []
    for field, raw in client.hgetall(_worker_memory_key()).items():
        entry = json.loads(raw)
        if time.time() - float(entry["at"]) > WORKER_MEMORY_MAX_AGE_SECONDS:
            stale.append(field)
            continue
        worker = str(field).rpartition("|")[0]
        largest[worker] = max(largest.get(worker, 0.0), float(entry["rss"]))
    if stale:
        client.hdel(_worker_memory_key(), *stale)
    if limit <= 0:
        return []
    return [Usage(f"worker:{worker}", f"worker {worker}", rss, limit) for worker, rss in sorted(largest.items())]
