from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from django.apps import apps
from django.db import connection

from accounts.services import account_onboard, app_get_or_create_default
from core.backup import archive_table_count, database_backup, database_restore, database_table_count
from tests import fixtures_celery

ROOT = Path(__file__).resolve().parents[2]
TABLES = sorted({model._meta.db_table for model in apps.get_models()})


def _counts(conn: psycopg.Connection) -> dict[str, int]:
    return {table: conn.execute(f'SELECT count(*) FROM "{table}"').fetchone()[0] for table in TABLES}


@pytest.fixture
def empty_database_url() -> Iterator[tuple[str, dict]]:
    name = f"ops_restore_{uuid.uuid4().hex[:8]}"
    params = connection.get_connection_params()
    params.pop("dbname", None)
    with psycopg.connect(dbname="postgres", autocommit=True, **params) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    url = fixtures_celery.database_url_for_tests().replace(f"/{connection.settings_dict['NAME']}", f"/{name}", 1)
    yield url, {**params, "dbname": name}
    with psycopg.connect(dbname="postgres", autocommit=True, **params) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_make_restore_round_trips_a_backup_into_an_empty_database(transactional_db: None, tmp_path: Path, empty_database_url) -> None:  # type: ignore[no-untyped-def]
    app = app_get_or_create_default()
    app.user_cap = 10
    app.save()
    for n in range(3):
        account_onboard(app=app, spotify_user_id=f"u{n}", display_name=f"U{n}", refresh_token=f"refresh-{n}")
    dumped: list[str] = []
    archive = database_backup(directory=tmp_path, keep=2, on_table=dumped.append)
    url, restored_params = empty_database_url

    result = subprocess.run(
        [sys.executable, "manage.py", "restore_db", str(archive)],
        cwd=ROOT, env={**os.environ, "DATABASE_URL": url}, capture_output=True, text=True, timeout=120,
    )

    assert result.returncode == 0, result.stderr
    # Progress: every table dumped was reported, and the restore's plain lines (no terminal) end at 100%.
    assert "public.accounts_spotifyaccount" in dumped and len(dumped) == database_table_count()
    tables = archive_table_count(path=archive)
    assert result.stderr.splitlines()[-1] == f"Restoring: {tables}/{tables} tables (100%)"
    params = connection.get_connection_params()
    with psycopg.connect(**params) as source, psycopg.connect(**restored_params) as restored:
        assert _counts(restored) == _counts(source)
        assert _counts(restored)["accounts_spotifyaccount"] == 3
        # Tokens come back as the same ciphertext: still encrypted, same keys decrypt them.
        query = "SELECT refresh_token FROM accounts_spotifyaccount ORDER BY spotify_user_id"
        assert restored.execute(query).fetchall() == source.execute(query).fetchall()


def test_restore_refuses_a_database_that_has_tables(transactional_db: None, tmp_path: Path) -> None:
    archive = database_backup(directory=tmp_path)
    with pytest.raises(RuntimeError, match="not empty"):
        database_restore(path=archive)


def test_backup_keeps_only_the_newest_archives(transactional_db: None, tmp_path: Path) -> None:
    (tmp_path / "other-20260101T000000Z.dump").write_text("another database's archive")
    db_name = connection.settings_dict["NAME"]
    for stamp in ("20200101T000000Z", "20200102T000000Z", "20200103T000000Z"):
        (tmp_path / f"{db_name}-{stamp}.dump").write_text("old")
    newest = database_backup(directory=tmp_path, keep=2)
    kept = sorted(p.name for p in tmp_path.glob(f"{db_name}-*.dump"))
    assert kept == [f"{db_name}-20200103T000000Z.dump", newest.name]
    assert (tmp_path / "other-20260101T000000Z.dump").exists()
