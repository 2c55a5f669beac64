"""The synthetic fleet: accounts, playlists, a million tracks, job history, metrics, dead letters, the schedule.

Generated in PostgreSQL with INSERT ... SELECT generate_series, never the ORM row by row, and
deterministic (ids and values are functions of the row number). The bench builds it once in its
own database and reuses it while the marker row's version and sizes match; tests call
`fleet_populate` with small sizes inside their transaction.

Explicit primary keys make the foreign keys arithmetic (track g is on album 1 + (g-1)/10, ...);
the sequences are moved past them afterwards so later inserts through the ORM still work.
Ids follow the formats the other bench modules look for: tracks `bt` + 20 digits (22 chars,
like a Spotify id), albums `bb...`, artists `ba...`. The 5% of tracks without features are
marked as Spotify having none (features_unavailable_until far ahead): the features job finds
nothing of the fleet's to fetch, so the ingest case's call counts are its own.
"""

from __future__ import annotations

import json
import os
import platform
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import timedelta
from typing import Any

from django.db import connection, transaction

# Bump when the generated data changes: the next run rebuilds the fleet.
FLEET_VERSION = 3
TRACKS_PER_ALBUM = 10
ALBUMS_PER_ARTIST = 2
ACCOUNTS_PER_APP = 50
SNAPSHOT_SIZE = 50
# A handful of distinct token plaintexts, encrypted once and reused by every account: the
# admin and API never decrypt them on list pages, but every value must be valid ciphertext.
TOKEN_VARIANTS = 8

JOB_NAMES = [
    "scale_playlists_daily",
    "refresh_tokens",
    "ingest_albums_from_sources",
    "fetch_audio_features",
    "build_playlist_snapshot",
    "ensure_playlist_for_account",
    "reshuffle_due_playlists",
    "metrics_snapshot",
    "retention",
]

# Tables the fleet fills, children first (TRUNCATE ... CASCADE order does not matter, but the
# list is also what `fleet_clear` and the bulk-load index juggling work on).
FLEET_TABLES = [
    "playlists_playlisthistory",
    "playlists_snapshottrack",
    "playlists_playlistsnapshot",
    "playlists_playlist",
    "playlists_playlistpolicy",
    "accounts_spotifyaccount",
    "accounts_spotifyapp",
    "ingest_track",
    "ingest_album",
    "ingest_artist",
    "ingest_albumsource",
    "ingest_deadletter",
    "metrics_jobrun",
    "metrics_metricsnapshot",
]
# The big ones: their secondary indexes and constraints are dropped during the load and rebuilt
# after it (one sorted build per index instead of a million random inserts into each).
BULK_TABLES = ["ingest_track", "playlists_snapshottrack", "metrics_jobrun"]


@dataclass(frozen=True)
class FleetSizes:
    accounts: int = 1_000
    playlists: int = 10_000
    tracks: int = 1_000_000
    job_runs: int = 100_000
    metric_days: int = 30
    dead_letters: int = 5_000

    @classmethod
    def from_env(cls) -> FleetSizes:
        """BENCH_ACCOUNTS, BENCH_PLAYLISTS, BENCH_TRACKS, ... shrink the fleet for a quick try."""
        defaults = cls()
        return cls(**{name: int(os.environ.get(f"BENCH_{name.upper()}", value)) for name, value in asdict(defaults).items()})

    @classmethod
    def uniform(cls, rows: int) -> FleetSizes:
        """The same number of rows in every listed table (what the query-count tests compare)."""
        return cls(accounts=rows, playlists=rows, tracks=rows, job_runs=rows, metric_days=1, dead_letters=rows)


def machine() -> dict[str, Any]:
    """The figures' context: cores, memory, PostgreSQL version."""
    memory_gb = None
    try:
        with open("/proc/meminfo") as meminfo:
            for line in meminfo:
                if line.startswith("MemTotal:"):
                    memory_gb = round(int(line.split()[1]) / 1024 / 1024, 1)
    except OSError:
        pass
    info: dict[str, Any] = {"nproc": os.cpu_count(), "memory_gb": memory_gb, "python": platform.python_version()}
    try:
        with connection.cursor() as cursor:
            cursor.execute("SHOW server_version")
            info["postgresql"] = cursor.fetchone()[0]
    except Exception:  # machine() is informational; the bench must not fail on it
        info["postgresql"] = "unknown"
    info["cpu"] = platform.machine()
    return info


def _ciphertexts(prefix: str) -> list[str]:
    from core.crypto import encrypt

    return [encrypt(f"{prefix}-{n}-{'x' * 40}") for n in range(TOKEN_VARIANTS)]


@contextmanager
def _indexes_deferred(cursor: Any, tables: list[str]) -> Iterator[None]:
    """Drop the secondary indexes and constraints of `tables`, yield, then rebuild them."""
    cursor.execute(
        """
        SELECT c.conrelid::regclass::text, c.conname, pg_get_constraintdef(c.oid)
        FROM pg_constraint c
        WHERE c.conrelid = ANY(%s::regclass[]) AND c.contype IN ('u', 'f', 'c')
        """,
        [tables],
    )
    constraints = cursor.fetchall()
    cursor.execute(
        """
        SELECT i.indexrelid::regclass::text, pg_get_indexdef(i.indexrelid)
        FROM pg_index i
        WHERE i.indrelid = ANY(%s::regclass[]) AND NOT i.indisprimary
          AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid)
        """,
        [tables],
    )
    indexes = cursor.fetchall()
    for table, name, _ in constraints:
        cursor.execute(f'ALTER TABLE {table} DROP CONSTRAINT "{name}"')
    for name, _ in indexes:
        cursor.execute(f"DROP INDEX {name}")
    yield
    cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
    for _, definition in indexes:
        cursor.execute(definition)
    for table, name, definition in constraints:
        cursor.execute(f'ALTER TABLE {table} ADD CONSTRAINT "{name}" {definition}')
    cursor.execute("SET CONSTRAINTS ALL DEFERRED")


# A zero for each type: what a NOT NULL column the fleet's SQL does not name gets during the load.
_ZERO_DEFAULTS = {
    "character varying": "''",
    "text": "''",
    "integer": "0",
    "smallint": "0",
    "bigint": "0",
    "numeric": "0",
    "double precision": "0",
    "real": "0",
    "boolean": "false",
    "jsonb": "'{}'::jsonb",
    "ARRAY": "'{}'",
    "timestamp with time zone": "now()",
    "date": "CURRENT_DATE",
}


@contextmanager
def _zero_defaults(cursor: Any, tables: list[str]) -> Iterator[None]:
    """Give NOT NULL columns without a database default a zero default while the fleet loads.

    Django keeps field defaults in Python: a column another app adds later (with a migration)
    would otherwise break this SQL until it is named here.
    """
    cursor.execute(
        """
        SELECT table_name, column_name, data_type FROM information_schema.columns
        WHERE table_schema = current_schema() AND table_name = ANY(%s) AND is_nullable = 'NO'
          AND column_default IS NULL AND is_identity = 'NO'
        """,
        [tables],
    )
    columns = [(table, column, _ZERO_DEFAULTS[kind]) for table, column, kind in cursor.fetchall() if kind in _ZERO_DEFAULTS]
    for table, column, zero in columns:
        cursor.execute(f'ALTER TABLE {table} ALTER COLUMN "{column}" SET DEFAULT {zero}')
    yield
    # ALTER TABLE refuses while deferred foreign-key checks of the load are pending: run them now.
    cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
    for table, column, _ in columns:
        cursor.execute(f'ALTER TABLE {table} ALTER COLUMN "{column}" DROP DEFAULT')
    cursor.execute("SET CONSTRAINTS ALL DEFERRED")


def fleet_clear(cursor: Any) -> None:
    # Django's foreign keys are DEFERRABLE INITIALLY DEFERRED: rows inserted earlier in this
    # transaction (a test building twice) leave checks pending, and TRUNCATE refuses to run then.
    cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
    cursor.execute(f"TRUNCATE {', '.join(FLEET_TABLES)} RESTART IDENTITY CASCADE")
    cursor.execute("SET CONSTRAINTS ALL DEFERRED")


def _quality_params() -> dict[str, Any]:
    from ingest.quality import QUALITY_FAIR_MIN, QUALITY_GOOD_MIN, QUALITY_WEIGHTS

    def tier(score: int) -> str:
        return "good" if score >= QUALITY_GOOD_MIN else "fair" if score >= QUALITY_FAIR_MIN else "poor"

    unavailable = 100 - QUALITY_WEIGHTS["features_unavailable"]
    return {"unavailable_score": unavailable, "unavailable_tier": tier(unavailable), "full_tier": tier(100)}


def fleet_populate(*, sizes: FleetSizes, bulk: bool = False) -> dict[str, float]:
    """Empty the fleet tables and fill them for `sizes`; returns seconds per step.

    `bulk` rebuilds the big tables' indexes after the load (the bench's million rows); tests
    leave it off. Runs in the caller's transaction when there is one.
    """
    timings: dict[str, float] = {}
    params = {
        "accounts": sizes.accounts,
        "apps": max(1, -(-sizes.accounts // ACCOUNTS_PER_APP)),
        "per_app": ACCOUNTS_PER_APP,
        "playlists": sizes.playlists,
        "per_account": max(1, -(-sizes.playlists // max(sizes.accounts, 1))),
        "tracks": sizes.tracks,
        "albums": max(1, -(-sizes.tracks // TRACKS_PER_ALBUM)),
        "artists": max(1, -(-sizes.tracks // (TRACKS_PER_ALBUM * ALBUMS_PER_ARTIST))),
        "per_album": TRACKS_PER_ALBUM,
        "per_artist": TRACKS_PER_ALBUM * ALBUMS_PER_ARTIST,
        "albums_per_artist": ALBUMS_PER_ARTIST,
        "job_runs": sizes.job_runs,
        "job_names": JOB_NAMES,
        "hours": sizes.metric_days * 24,
        "dead_letters": sizes.dead_letters,
        "snapshot_size": SNAPSHOT_SIZE,
        "access": _ciphertexts("bench-access"),
        "refresh": _ciphertexts("bench-refresh"),
        "secret": _ciphertexts("bench-secret")[0],
        "variants": TOKEN_VARIANTS,
        **_quality_params(),
    }
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET LOCAL maintenance_work_mem = '256MB'")
        cursor.execute("SET LOCAL synchronous_commit = off")
        fleet_clear(cursor)
        with _zero_defaults(cursor, FLEET_TABLES), _indexes_deferred(cursor, BULK_TABLES) if bulk else _noop():
            for step, sql in STEPS:
                started = time.perf_counter()
                cursor.execute(sql, params)
                timings[step] = round(time.perf_counter() - started, 2)
                if bulk:  # the bench's build: minutes at ×10, so say where it is
                    print(f"  fleet {step}: {timings[step]} s", flush=True)
            started = time.perf_counter()
        if bulk:
            timings["rebuild_indexes"] = round(time.perf_counter() - started, 2)
            print(f"  fleet indexes rebuilt: {timings['rebuild_indexes']} s", flush=True)
        for table in FLEET_TABLES:
            # Explicit ids were inserted: move each serial past them for later ORM inserts.
            cursor.execute("SELECT pg_get_serial_sequence(%s, 'id')", [table])
            sequence = cursor.fetchone()[0]
            if sequence:
                cursor.execute(f"SELECT setval(%s, GREATEST((SELECT max(id) FROM {table}), 1))", [sequence])
    return timings


@contextmanager
def _noop() -> Iterator[None]:
    yield


def _bench_superuser() -> None:
    from django.contrib.auth.models import User

    if not User.objects.filter(username="bench").exists():
        User.objects.create_superuser("bench", "bench@example.com", "bench-password-not-secret")


def _bench_schedule(*, days: int) -> None:
    """The beat schedule every deployment has (`setup_periodic_tasks`), unchanged since the start
    of the fleet's history: /health, the dashboard's late jobs, JobLate and /metrics read each
    job's last run and lateness through it (without it they read nothing)."""
    from django.utils import timezone
    from django_celery_beat.models import PeriodicTask, PeriodicTasks

    from jobs.schedule import schedule_sync

    schedule_sync()
    PeriodicTask.objects.update(date_changed=timezone.now() - timedelta(days=days))
    PeriodicTasks.update_changed()


def _analyze() -> None:
    """Planner statistics, and the reltuples the estimated-count paginators read."""
    with connection.cursor() as cursor:
        for table in FLEET_TABLES:
            cursor.execute(f"ANALYZE {table}")


def fleet_ensure(*, sizes: FleetSizes) -> dict[str, Any]:
    """Build the fleet unless the marker says this version and these sizes are already there."""
    wanted = {"version": FLEET_VERSION, **asdict(sizes)}
    with connection.cursor() as cursor:
        cursor.execute(
            "CREATE TABLE IF NOT EXISTS bench_fleet (id int PRIMARY KEY, spec jsonb NOT NULL, built_at timestamptz NOT NULL, build_seconds float8 NOT NULL)"
        )
        cursor.execute("SELECT spec, built_at, build_seconds FROM bench_fleet WHERE id = 1")
        row = cursor.fetchone()
    _bench_superuser()
    _bench_schedule(days=sizes.metric_days)
    # Django's psycopg setup hands jsonb back as text.
    if row is not None and (json.loads(row[0]) if isinstance(row[0], str) else row[0]) == wanted:
        started = time.perf_counter()
        # The writer cases insert and roll back thousands of rows per run; a VACUUM that follows
        # extrapolates reltuples from the pages it visited (seen: 2,605 for 10,000 playlists),
        # and the estimated-count paginators and the planner read it. Fresh statistics each run.
        _analyze()
        return {
            "reused": True,
            "built_at": row[1].isoformat(),
            "build_seconds": row[2],
            "analyze_seconds": round(time.perf_counter() - started, 1),
            **asdict(sizes),
        }
    print(f"building the bench fleet ({sizes}); later runs reuse it", flush=True)
    started = time.perf_counter()
    timings = fleet_populate(sizes=sizes, bulk=True)
    analyze_started = time.perf_counter()
    _analyze()
    timings["analyze"] = round(time.perf_counter() - analyze_started, 2)
    with connection.cursor() as cursor:
        seconds = round(time.perf_counter() - started, 1)
        cursor.execute(
            "INSERT INTO bench_fleet (id, spec, built_at, build_seconds) VALUES (1, %s::jsonb, now(), %s) "
            "ON CONFLICT (id) DO UPDATE SET spec = EXCLUDED.spec, built_at = EXCLUDED.built_at, build_seconds = EXCLUDED.build_seconds",
            [json.dumps(wanted), seconds],
        )
    return {"reused": False, "build_seconds": seconds, "steps_seconds": timings, **asdict(sizes)}


STEPS: list[tuple[str, str]] = [
    (
        "apps",
        """
INSERT INTO accounts_spotifyapp (id, name, client_id, client_secret, mode, user_cap, capabilities, created_at)
SELECT g, 'bench-app-' || g, 'bench-client-' || g, %(secret)s, 'extended', %(per_app)s, '{}'::jsonb, now() - interval '200 days'
FROM generate_series(1, %(apps)s) g
""",
    ),
    (
        "accounts",
        """
INSERT INTO accounts_spotifyaccount (
  id, app_id, display_name, spotify_user_id, access_token, refresh_token, token_expires_at, authorized_at, scopes,
  is_active, health, health_reason, health_changed_at, consecutive_failures, last_error, last_error_at,
  last_refreshed_at, playlist_capacity, created_at, updated_at)
SELECT md5('bench-account:' || g)::uuid, 1 + (g - 1) / %(per_app)s, 'Bench account ' || lpad(g::text, 5, '0'),
  'bench-user-' || g, (%(access)s::text[])[1 + g %% %(variants)s], (%(refresh)s::text[])[1 + g %% %(variants)s],
  now() + make_interval(mins => g %% 60), now() - make_interval(days => g %% 175),
  'playlist-modify-public playlist-modify-private', g %% 50 <> 0,
  CASE WHEN g %% 97 = 0 THEN 'quarantined' WHEN g %% 113 = 0 THEN 'reauth_required' WHEN g %% 40 = 1 THEN 'degraded' ELSE 'ok' END,
  CASE WHEN g %% 40 = 1 THEN '3 consecutive failures' ELSE '' END, now() - make_interval(hours => g %% 72),
  CASE WHEN g %% 40 = 1 THEN 3 ELSE 0 END, CASE WHEN g %% 40 = 1 THEN 'HTTP 503 from Spotify' ELSE '' END,
  CASE WHEN g %% 40 = 1 THEN now() - interval '1 hour' END, now() - make_interval(mins => g %% 30), 200,
  now() - make_interval(days => g %% 300), now()
FROM generate_series(1, %(accounts)s) g
""",
    ),
    (
        "policies",
        """
INSERT INTO playlists_playlistpolicy (
  id, name, size, cooldown_days, artist_cap, feature_ranges, tracks_without_features_pass, source_filter, short_pool,
  reshuffle_interval_days, name_template, description_template, is_default, created_at, updated_at)
VALUES
  (1, 'Bench default', 50, 5, 2, '{}', true, '{}', 'strict', 5, '{{ policy.name }} #{{ index }}', 'Fresh picks, {{ date }}.', true, now(), now()),
  (2, 'Bench energetic', 50, 5, 2, '{"energy": {"min": 0.6, "max": 1.0}}', false, '{}', 'strict', 3, 'Energy #{{ index }}', 'High energy, {{ date }}.', false, now(), now()),
  (3, 'Bench chill', 50, 7, 2, '{"energy": {"max": 0.4}, "tempo": {"max": 110}}', true, '{}', 'strict', 5, 'Chill #{{ index }}', 'Slow down, {{ date }}.', false, now(), now()),
  (4, 'Bench dance', 50, 5, 3, '{"danceability": {"min": 0.6}}', true, '{}', 'relax', 5, 'Dance #{{ index }}', 'Move, {{ date }}.', false, now(), now()),
  (5, 'Bench deep cuts', 50, 30, 1, '{}', true, '{}', 'relax', 7, 'Deep cuts #{{ index }}', 'Rarely heard, {{ date }}.', false, now(), now())
""",
    ),
    (
        "artists",
        """
INSERT INTO ingest_artist (id, spotify_id, name, created_at, updated_at)
SELECT g, 'ba' || lpad(g::text, 20, '0'), 'Bench artist ' || g, now() - interval '90 days', now() - interval '90 days'
FROM generate_series(1, %(artists)s) g
""",
    ),
    (
        "albums",
        """
INSERT INTO ingest_album (id, spotify_id, name, label, release_date, total_tracks, artist_id, created_at, updated_at)
SELECT g, 'bb' || lpad(g::text, 20, '0'), 'Bench album ' || g, 'Label ' || (g %% 40),
  (2000 + g %% 26)::text || '-' || lpad((1 + g %% 12)::text, 2, '0') || '-01', %(per_album)s,
  1 + (g - 1) / %(albums_per_artist)s, now() - interval '90 days', now() - interval '90 days'
FROM generate_series(1, %(albums)s) g
""",
    ),
    (
        "tracks",
        """
INSERT INTO ingest_track (
  id, spotify_id, name, album_id, artist_id, isrc, duration_ms, disc_number, track_number, explicit,
  audio_features, features_fetched_at, features_unavailable_until, created_at, updated_at,
  quality_issues, quality_score, quality_tier)
SELECT g, 'bt' || lpad(g::text, 20, '0'),
  (ARRAY['Blue','Night','Golden','Electric','Quiet','Wild','Paper','Silver','Midnight','Open','Broken','Northern','Velvet'])[1 + g %% 13]
    || ' ' || (ARRAY['River','Heart','Sky','Road','City','Fire','Dream','Light','Garden','Signal','Echo'])[1 + (g / 13) %% 11] || ' ' || g,
  1 + (g - 1) / %(per_album)s, 1 + (g - 1) / %(per_artist)s, 'QZBEN' || lpad((g %% 10000000)::text, 7, '0'),
  120000 + (g::bigint * 7919) %% 240000, 1, 1 + (g - 1) %% %(per_album)s, g %% 9 = 0,
  CASE WHEN g %% 20 <> 0 THEN jsonb_build_object(
    'danceability', ((g::bigint * 7919) %% 1000) / 1000.0, 'energy', ((g::bigint * 104729) %% 1000) / 1000.0,
    'valence', ((g::bigint * 1299709) %% 1000) / 1000.0, 'acousticness', ((g::bigint * 15485863) %% 1000) / 1000.0,
    'instrumentalness', ((g::bigint * 32452843) %% 1000) / 1000.0, 'liveness', ((g::bigint * 49979687) %% 1000) / 1000.0,
    'speechiness', ((g::bigint * 67867967) %% 1000) / 1000.0, 'loudness', -((g::bigint * 86028121) %% 30000) / 1000.0,
    'tempo', 60 + ((g::bigint * 31) %% 14000) / 100.0, 'key', g %% 12, 'mode', g %% 2, 'time_signature', 3 + g %% 3,
    'duration_ms', 120000 + (g::bigint * 7919) %% 240000) END,
  CASE WHEN g %% 20 <> 0 THEN now() - make_interval(days => g %% 60) END,
  CASE WHEN g %% 20 = 0 THEN now() + interval '10 years' END,
  now() - make_interval(days => g %% 90), now() - make_interval(days => g %% 60),
  -- What ingest/quality.py's checks give these rows: only "features_unavailable" ever applies.
  CASE WHEN g %% 20 = 0 THEN ARRAY['features_unavailable']::varchar[] ELSE '{}'::varchar[] END,
  CASE WHEN g %% 20 = 0 THEN %(unavailable_score)s ELSE 100 END,
  CASE WHEN g %% 20 = 0 THEN %(unavailable_tier)s ELSE %(full_tier)s END
FROM generate_series(1, %(tracks)s) g
""",
    ),
    (
        "playlists",
        """
INSERT INTO playlists_playlist (
  id, account_id, policy_id, index, spotify_playlist_id, name, description, status, sync_state, sync_error,
  next_reshuffle_at, last_synced_at, spotify_create_started_at, current_snapshot_id, created_at, updated_at, retired_at)
SELECT md5('bench-playlist:' || g)::uuid, md5('bench-account:' || (1 + (g - 1) / %(per_account)s))::uuid, 1 + g %% 5,
  1 + (g - 1) %% %(per_account)s, 'bp' || lpad(g::text, 20, '0'), 'Bench playlist ' || g, 'Fresh picks. [ops:' || g || ']',
  CASE WHEN g %% 20 = 0 THEN 'retired' ELSE 'active' END,
  CASE WHEN g %% 50 = 3 THEN 'failed' WHEN g %% 50 = 7 THEN 'pending' ELSE 'synced' END,
  CASE WHEN g %% 50 = 3 THEN 'HTTP 502 from Spotify' ELSE '' END,
  now() + make_interval(hours => (g %% 240) - 24), now() - make_interval(hours => g %% 48), now() - interval '30 days',
  NULL, now() - interval '30 days', now(), CASE WHEN g %% 20 = 0 THEN now() - interval '2 days' END
FROM generate_series(1, %(playlists)s) g
""",
    ),
    (
        "snapshots",
        """
INSERT INTO playlists_playlistsnapshot (id, playlist_id, seed, created_at, synced_at, track_count, notes)
SELECT g, md5('bench-playlist:' || g)::uuid, g, now() - make_interval(days => 1 + g %% 5, mins => g %% 1440),
  now() - make_interval(days => 1 + g %% 5), %(snapshot_size)s, '{}'::jsonb
FROM generate_series(1, %(playlists)s) g
""",
    ),
    (
        "snapshot_tracks",
        """
INSERT INTO playlists_snapshottrack (id, snapshot_id, track_id, position)
SELECT (g - 1) * %(snapshot_size)s + p, g, 1 + ((g::bigint * 7919 + p * 104729) %% %(tracks)s), p
FROM generate_series(1, %(playlists)s) g, generate_series(1, %(snapshot_size)s) p
""",
    ),
    (
        "current_snapshots",
        """
UPDATE playlists_playlist p SET current_snapshot_id = s.id
FROM playlists_playlistsnapshot s WHERE s.playlist_id = p.id
""",
    ),
    (
        "playlist_history",
        """
INSERT INTO playlists_playlisthistory (playlist_id, action, actor, details, created_at)
SELECT md5('bench-playlist:' || g)::uuid, a.action, 'schedule', jsonb_build_object('snapshot_id', g), now() - make_interval(days => a.days)
FROM generate_series(1, %(playlists)s) g, (VALUES ('create', 30), ('snapshot', 1), ('sync', 1)) a(action, days)
""",
    ),
    (
        "job_runs",
        """
INSERT INTO metrics_jobrun (
  id, job_name, task_name, task_id, trigger, triggered_by, correlation_id, status, args, kwargs, queued_at, started_at,
  finished_at, duration_ms, attempts, summary, error, worker)
SELECT g, j.name, j.name, md5('bench-run:' || g)::uuid::text,
  CASE WHEN g %% 25 = 0 THEN 'api' WHEN g %% 10 = 0 THEN 'admin' ELSE 'schedule' END,
  CASE WHEN g %% 10 = 0 THEN 'bench' ELSE '' END, md5('bench-corr:' || g),
  CASE WHEN g %% 30 = 0 THEN 'failed' WHEN g %% 1000 = 1 THEN 'running' ELSE 'success' END, '[]', '{}',
  t.started - interval '1 second', t.started,
  CASE WHEN g %% 1000 = 1 THEN NULL ELSE t.started + make_interval(secs => (100 + (g::bigint * 37) %% 60000) / 1000.0) END,
  CASE WHEN g %% 1000 = 1 THEN NULL ELSE 100 + (g::bigint * 37) %% 60000 END, 1,
  jsonb_build_object('processed', g %% 500, 'failed', CASE WHEN g %% 30 = 0 THEN 1 ELSE 0 END),
  CASE WHEN g %% 30 = 0 THEN 'Traceback (most recent call last):' || chr(10) || 'SpotifyServerError: HTTP 503' ELSE '' END,
  'celery@bench-worker-' || (g %% 4)
FROM generate_series(1, %(job_runs)s) g
CROSS JOIN LATERAL (SELECT (%(job_names)s::text[])[1 + g %% 9] AS name) j
CROSS JOIN LATERAL (SELECT now() - make_interval(secs => g * 2592000.0 / %(job_runs)s) AS started) t
""",
    ),
    (
        "metric_snapshots",
        """
INSERT INTO metrics_metricsnapshot (
  taken_at, accounts_total, accounts_by_health, playlists_active, tracks_total, tracks_with_features, reshuffles,
  retries, dead_letters, job_failures, extra)
SELECT date_trunc('hour', now()) - make_interval(hours => h), %(accounts)s,
  jsonb_build_object('ok', %(accounts)s - 40, 'degraded', 25, 'quarantined', 10, 'reauth_required', 5),
  %(playlists)s * 19 / 20, %(tracks)s, %(tracks)s * 19 / 20, (h * 37) %% 400, 1000 - h, 50 + h %% 20, h %% 3, '{}'::jsonb
FROM generate_series(0, %(hours)s - 1) h
""",
    ),
    (
        "dead_letters",
        """
INSERT INTO ingest_deadletter (
  id, source_service, operation, error_type, error_message, payload, fingerprint, correlation_id, retry_count,
  occurrences, status, first_seen, last_seen, replayed_at, replayed_by)
SELECT g, CASE WHEN g %% 4 = 0 THEN 'spotify.audio_features' ELSE 'spotify.albums' END,
  CASE WHEN g %% 4 = 0 THEN 'fetch_audio_features' ELSE 'ingest_album' END,
  (ARRAY['rate_limited', 'server_error', 'timeout', 'circuit_open', 'not_found'])[1 + g %% 5],
  'HTTP ' || (ARRAY['429', '503', 'timeout', 'circuit open', '404'])[1 + g %% 5] || ' for bench item ' || g,
  jsonb_build_object('album_id', 'bb' || lpad(g::text, 20, '0')), md5('bench-dead-letter:' || g), md5('bench-corr:' || g),
  5, 1 + g %% 7, CASE WHEN g %% 3 = 0 THEN 'replayed' ELSE 'pending' END,
  now() - make_interval(hours => g %% 336 + 2), now() - make_interval(hours => g %% 336),
  CASE WHEN g %% 3 = 0 THEN now() - interval '1 hour' END, CASE WHEN g %% 3 = 0 THEN 'admin:bench' ELSE '' END
FROM generate_series(1, %(dead_letters)s) g
""",
    ),
]
