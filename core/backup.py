"""`make backup` / `make restore`: pg_dump custom-format archives under var/backups/.

Uses the pg_dump/pg_restore that pgserver ships (PostgreSQL 16 client tools), so the same
commands work on the embedded database and on any DATABASE_URL server up to version 16.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import connections

BACKUP_DIR = Path(settings.BASE_DIR) / "var" / "backups"


def _pg_bin(name: str) -> str:
    import pgserver

    bundled = Path(pgserver.__file__).parent / "pginstall" / "bin" / name
    return str(bundled) if bundled.exists() else (shutil.which(name) or name)


def _libpq_env(db: dict[str, Any]) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        PGHOST=str(db.get("HOST") or ""),
        PGPORT=str(db.get("PORT") or "5432"),
        PGUSER=str(db.get("USER") or ""),
        PGDATABASE=str(db["NAME"]),
    )
    if db.get("PASSWORD"):
        env["PGPASSWORD"] = str(db["PASSWORD"])
    return {k: v for k, v in env.items() if v != "" or not k.startswith("PG")}


_TABLE_DONE = re.compile(r"(?:dumping contents of|processing data for) table \"?([^\"\s]+)")


def _run_reporting_tables(argv: list[str], *, env: dict[str, str], on_table: Callable[[str], None] | None) -> None:
    """Run pg_dump/pg_restore --verbose, telling `on_table` of each table's data done; fail as check=True would."""
    process = subprocess.Popen([*argv, "--verbose"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert process.stderr is not None and process.stdout is not None
    errors: list[str] = []
    for line in process.stderr:
        match = _TABLE_DONE.search(line)
        if match and on_table is not None:
            on_table(match.group(1))
        elif not match:
            errors.append(line)
    output = process.stdout.read()
    if process.wait():
        raise subprocess.CalledProcessError(process.returncode, argv, output, "".join(errors[-50:]))


def database_table_count(*, alias: str = "default") -> int:
    with connections[alias].cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'")
        return int(cursor.fetchone()[0])


def archive_table_count(*, path: Path) -> int:
    """Tables with data in an archive (its TABLE DATA entries)."""
    listing = subprocess.run([_pg_bin("pg_restore"), "--list", str(path)], check=True, capture_output=True, text=True).stdout
    return sum(1 for line in listing.splitlines() if not line.startswith(";") and " TABLE DATA " in line)


def database_backup(
    *,
    directory: Path = BACKUP_DIR,
    keep: int | None = None,
    alias: str = "default",
    on_table: Callable[[str], None] | None = None,
) -> Path:
    """Write a timestamped custom-format dump; keep only the newest `keep` archives.

    `on_table(name)` hears of each table dumped (the command's progress)."""
    directory.mkdir(parents=True, exist_ok=True)
    db = connections[alias].settings_dict
    stamp = datetime.now(tz=UTC).strftime("%Y%m%dT%H%M%SZ")
    path = directory / f"{db['NAME']}-{stamp}.dump"
    _run_reporting_tables(
        [_pg_bin("pg_dump"), "--format=custom", "--no-owner", "--no-privileges", "--file", str(path)],
        env=_libpq_env(db),
        on_table=on_table,
    )
    keep = keep if keep is not None else settings.BACKUP_KEEP
    archives = sorted(directory.glob(f"{db['NAME']}-*.dump"))
    for old in archives[:-keep] if keep > 0 else []:
        old.unlink()
    return path


def database_is_empty(*, alias: str = "default") -> bool:
    with connections[alias].cursor() as cursor:
        cursor.execute("SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public'")
        return cursor.fetchone()[0] == 0


def database_restore(*, path: Path, alias: str = "default", on_table: Callable[[str], None] | None = None) -> None:
    """Restore an archive into an empty database (refuses one that has tables).

    `on_table(name)` hears of each table's data restored (the command's progress)."""
    if not path.exists():
        raise FileNotFoundError(f"no backup at {path}")
    if not database_is_empty(alias=alias):
        raise RuntimeError(
            f"database {connections[alias].settings_dict['NAME']} is not empty: restore into a fresh database "
            "(create it, point DATABASE_URL at it, then run make restore)"
        )
    _run_reporting_tables(
        [
            _pg_bin("pg_restore"),
            "--no-owner",
            "--no-privileges",
            "--exit-on-error",
            "--dbname",
            connections[alias].settings_dict["NAME"],
            str(path),
        ],
        env=_libpq_env(connections[alias].settings_dict),
        on_table=on_table,
    )
