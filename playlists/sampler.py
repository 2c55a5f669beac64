"""The sampler: picks a playlist's tracks in SQL, reproducibly from a seed.

How it stays fast on a million tracks without loading the catalog:
- Every track has a stable pseudo-random key `hashint8(id)` with an expression index
  (`playlists_track_sample_key_idx`, migration playlists 0002).
- The seed picks ARCS start points on that key; each arc walks the index from its start
  (wrapping around) and keeps the first tracks that pass the policy (feature ranges via JSONB,
  source filter, cooldown). That candidate window is a few hundred rows.
- Inside the window the artist cap is a window function
  (ROW_NUMBER() OVER (PARTITION BY artist_id ORDER BY md5(seed:id))) and the final order is
  the same seeded hash, LIMIT the size.
- If the window could not fill the size and did not yet cover the whole pool, it grows
  (x4) and runs again: at most ~log4(catalog) rounds, never an endless loop.
Same seed + same catalog + same playlist history = same tracks in the same order.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.db import connection

from ingest.models import Album, AlbumSource, Track
from playlists.models import PlaylistPolicy, PlaylistSnapshot, SnapshotTrack

ARCS = 8
WINDOW_FACTOR = 3
WINDOW_MIN = 32
WINDOW_GROWTH = 4


@dataclass
class Pick:
    track_id: int
    artist_id: int
    order_key: str
    relaxed: list[str] = field(default_factory=list)


@dataclass
class SampleResult:
    picks: list[Pick]
    size: int
    queries: int
    relaxed: dict[str, list[int]]

    @property
    def track_ids(self) -> list[int]:
        return [pick.track_id for pick in self.picks]

    @property
    def short_by(self) -> int:
        return max(self.size - len(self.picks), 0)


def policy_filters(policy: PlaylistPolicy, params: dict[str, Any]) -> list[str]:
    """SQL conditions on `t` (ingest_track) for the policy's feature ranges and source filter."""
    clauses: list[str] = []
    passes = "TRUE" if policy.tracks_without_features_pass else "FALSE"
    for n, (name, bounds) in enumerate(sorted((policy.feature_ranges or {}).items())):
        params[f"feature_{n}"] = name
        value = (
            f"(CASE WHEN jsonb_typeof(t.audio_features -> %(feature_{n})s) = 'number' "
            f"THEN (t.audio_features ->> %(feature_{n})s)::float8 END)"
        )
        tests = []
        if bounds.get("min") is not None:
            params[f"feature_{n}_min"] = float(bounds["min"])
            tests.append(f"{value} >= %(feature_{n}_min)s")
        if bounds.get("max") is not None:
            params[f"feature_{n}_max"] = float(bounds["max"])
            tests.append(f"{value} <= %(feature_{n}_max)s")
        if tests:
            # A missing/null feature compares as NULL: the policy decides whether it passes.
            clauses.append(f"COALESCE({' AND '.join(tests)}, {passes})")
    source_filter = policy.source_filter or {}
    album_table, source_table = Album._meta.db_table, AlbumSource._meta.db_table
    alternatives = []
    if source_filter.get("labels"):
        params["labels"] = list(source_filter["labels"])
        alternatives.append(f"t.album_id IN (SELECT id FROM {album_table} WHERE label = ANY(%(labels)s))")
    if source_filter.get("album_ids"):
        params["album_spotify_ids"] = list(source_filter["album_ids"])
        alternatives.append(f"t.album_id IN (SELECT id FROM {album_table} WHERE spotify_id = ANY(%(album_spotify_ids)s))")
    if source_filter.get("source_ids"):
        params["source_ids"] = [int(i) for i in source_filter["source_ids"]]
        alternatives.append(
            f"t.album_id IN (SELECT album_id FROM {source_table} WHERE id = ANY(%(source_ids)s) AND album_id IS NOT NULL)"
        )
    if alternatives:
        # A track passes when it comes from any of the named sources; empty lists restrict nothing.
        clauses.append("(" + " OR ".join(alternatives) + ")")
    return clauses


def cooldown_track_ids(*, playlist_id: Any, cooldown_days: int, now: datetime) -> set[int]:
    """Tracks that were on this playlist within the cooldown (the current snapshot included)."""
    if cooldown_days <= 0:
        return set()
    with connection.cursor() as cursor:
        cursor.execute(
            RECENT_SQL.format(**sampler_tables()) + " SELECT track_id FROM recent", recent_params(playlist_id, cooldown_days, now)
        )
        return {row[0] for row in cursor.fetchall()}


def sampler_tables() -> dict[str, str]:
    return {
        "track": Track._meta.db_table,
        "snapshot": PlaylistSnapshot._meta.db_table,
        "snapshot_track": SnapshotTrack._meta.db_table,
    }


def recent_params(playlist_id: Any, cooldown_days: int, now: datetime) -> dict[str, Any]:
    return {"playlist_id": playlist_id, "cutoff": now - timedelta(days=cooldown_days)}


# A snapshot was "on the playlist" from its creation until the next one replaced it: it counts
# for the cooldown if it is still current or was replaced after the cutoff.
RECENT_SQL = """
WITH recent AS (
  SELECT DISTINCT st.track_id FROM {snapshot_track} st
  WHERE st.snapshot_id IN (
    SELECT id FROM (
      SELECT s.id, lead(s.created_at) OVER (ORDER BY s.created_at, s.id) AS superseded_at
      FROM {snapshot} s WHERE s.playlist_id = %(playlist_id)s
    ) x WHERE superseded_at IS NULL OR superseded_at >= %(cutoff)s
  )
)"""

_WINDOW_SQL = """
, starts AS (
  SELECT g AS arc, ('x' || substr(md5(%(seed)s::text || ':arc:' || g::text), 1, 8))::bit(32)::int AS start
  FROM generate_series(1, %(arcs)s) AS g
), arc_rows AS (
  SELECT s.arc, w.id, w.artist_id FROM starts s
  CROSS JOIN LATERAL (
    SELECT id, artist_id FROM (
      (SELECT t.id, t.artist_id FROM {track} t
       WHERE hashint8(t.id) >= s.start AND {where} ORDER BY hashint8(t.id) LIMIT %(per_arc)s)
      UNION ALL
      (SELECT t.id, t.artist_id FROM {track} t
       WHERE hashint8(t.id) < s.start AND {where} ORDER BY hashint8(t.id) LIMIT %(per_arc)s)
    ) wrapped LIMIT %(per_arc)s
  ) w
), exhausted AS (
  -- An arc that came back short walked the whole key space: the window holds the whole pool.
  SELECT COALESCE(min(n), 0) < %(per_arc)s AS whole_pool FROM (SELECT count(*) AS n FROM arc_rows GROUP BY arc) c
), candidates AS (
  SELECT DISTINCT id, artist_id, md5(%(seed)s::text || ':' || id::text) AS h FROM arc_rows
), ranked AS (
  SELECT id, artist_id, h, row_number() OVER (PARTITION BY artist_id ORDER BY h COLLATE "C") AS rn FROM candidates
)
SELECT id, artist_id, h, (SELECT whole_pool FROM exhausted)
FROM ranked WHERE rn <= %(artist_cap)s ORDER BY h COLLATE "C" LIMIT %(need)s
"""


def _select(
    *,
    policy: PlaylistPolicy,
    playlist_id: Any,
    seed: int,
    need: int,
    now: datetime,
    apply_cooldown: bool,
    artist_cap: int | None,
    exclude: list[int],
) -> tuple[list[Pick], int]:
    """Up to `need` picks passing the policy (+ cooldown / cap when asked); returns picks, queries."""
    params: dict[str, Any] = {"seed": seed, "arcs": ARCS, "need": need, "exclude": exclude}
    where = ["NOT (t.id = ANY(%(exclude)s::bigint[]))", *policy_filters(policy, params)]
    if apply_cooldown and policy.cooldown_days > 0:
        params.update(recent_params(playlist_id, policy.cooldown_days, now))
        where.append("t.id NOT IN (SELECT track_id FROM recent)")
        head = RECENT_SQL
    else:
        head = "WITH unused AS (SELECT 1)"
    # No cap = a cap no artist reaches within one window.
    params["artist_cap"] = artist_cap if artist_cap else 2**31 - 1
    sql = (head + _WINDOW_SQL).format(where=" AND ".join(where), **sampler_tables())
    window = max(need * WINDOW_FACTOR, WINDOW_MIN)
    queries = 0
    with connection.cursor() as cursor:
        while True:
            params["per_arc"] = math.ceil(window / ARCS)
            cursor.execute(sql, params)
            queries += 1
            rows = cursor.fetchall()
            whole_pool = bool(rows[0][3]) if rows else True
            if len(rows) >= need or whole_pool:
                return [Pick(track_id=r[0], artist_id=r[1], order_key=r[2]) for r in rows], queries
            window *= WINDOW_GROWTH


def sample_tracks(*, policy: PlaylistPolicy, playlist_id: Any, seed: int, now: datetime) -> SampleResult:
    """Pick up to policy.size tracks; a short pool stays short (strict) or relaxes rules (relax).

    Relax order: the artist cap gives way first, then the cooldown; feature ranges and the source
    filter never do (they define what the playlist is). Each relaxed pick records the rule(s).
    """
    size = policy.size
    cap = policy.artist_cap or None
    picks, queries = _select(
        policy=policy,
        playlist_id=playlist_id,
        seed=seed,
        need=size,
        now=now,
        apply_cooldown=True,
        artist_cap=cap,
        exclude=[],
    )
    relaxed: dict[str, list[int]] = {}
    if len(picks) < size and policy.short_pool == PlaylistPolicy.ShortPool.RELAX:
        recent = cooldown_track_ids(playlist_id=playlist_id, cooldown_days=policy.cooldown_days, now=now)
        for rule, apply_cooldown in (("artist_cap", True), ("cooldown", False)):
            if len(picks) >= size:
                break
            extra, more_queries = _select(
                policy=policy,
                playlist_id=playlist_id,
                seed=seed,
                need=size - len(picks),
                now=now,
                apply_cooldown=apply_cooldown,
                artist_cap=None,
                exclude=[p.track_id for p in picks],
            )
            queries += more_queries + 1
            per_artist: dict[int, int] = {}
            for pick in picks:
                per_artist[pick.artist_id] = per_artist.get(pick.artist_id, 0) + 1
            for pick in extra:
                per_artist[pick.artist_id] = per_artist.get(pick.artist_id, 0) + 1
                if cap and per_artist[pick.artist_id] > cap:
                    pick.relaxed.append("artist_cap")
                if rule == "cooldown" and pick.track_id in recent:
                    pick.relaxed.append("cooldown")
            picks.extend(extra)
        for pick in picks:
            for rule in pick.relaxed:
                relaxed.setdefault(rule, []).append(pick.track_id)
    picks.sort(key=lambda p: p.order_key)
    return SampleResult(picks=picks, size=size, queries=queries, relaxed=relaxed)
