"""`make backup` / `make restore`: pg_dump custom-format archives under var/backups/.

Uses the pg_dump/pg_restore that pgserver ships (PostgreSQL 16 client tools), so the same
commands work on the embedded database and on any DATABASE_URL server up to version 16.
"""

from __future__ import annotations

import os
import shutil
import subprocess
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


def database_backup(*, directory: Path = BACKUP_DIR, keep: int | None = None, alias: str = "default") -> Path:
    """Write a timestamped custom-format dump; keep only the newest `keep` archives."""
    directory.mkdir(parents=True, exist_ok=True)
    db = connections[alias].settings_dict
    stamp = datetime.now(tz=UTC).strftime("%Y%m%dT%H%M%SZ")
    path = directory / f"{db['NAME']}-{stamp}.dump"
    subprocess.run(
        [_pg_bin("pg_dump"), "--format=custom", "--no-owner", "--no-privileges", "--file", str(path)],
        env=_libpq_env(db),
        check=True,
        capture_output=True,
        text=True,
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


def database_restore(*, path: Path, alias: str = "default") -> None:
    """Restore an archive into an empty database (refuses one that has tables)."""
    if not path.exists():
        raise FileNotFoundError(f"no backup at {path}")
    if not database_is_empty(alias=alias):
        raise RuntimeError(
            f"database {connections[alias].settings_dict['NAME']} is not empty: restore into a fresh database "
            "(create it, point DATABASE_URL at it, then run make restore)"
        )
    subprocess.run(
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
        check=True,
        capture_output=True,
        text=True,
    )
