"""Per-track data quality: checks → issues → score 0..100 → tier, written in bulk SQL.

Runs after every ingest batch (tracks of the albums just upserted) and feature batch (the
tracks just asked for), one UPDATE per batch — never row by row. The hourly metric
snapshot counts the tiers and the average score (`tracks_quality_tally`); the dashboard,
`/metrics` (`tracks_quality{tier}`) and the data-quality alert (docs/runbooks/data-quality.md)
read that count. The Track admin's "low quality" filter reads the tiers themselves.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from django.db import connection, transaction
from django.db.models import Count, Sum
from django.utils import timezone

from ingest.models import QualityTier, Track

if TYPE_CHECKING:
    from jobs.models import JobRun

logger = logging.getLogger(__name__)

# Issue → points taken off 100. "features_unavailable" (Spotify answered null) weighs less than
# "features_missing" (not fetched yet): the first is settled, the second is work still owed.
QUALITY_WEIGHTS: dict[str, int] = {
    "missing_isrc": 20,
    "features_missing": 25,
    "features_unavailable": 15,
    "missing_artist": 25,
    "zero_duration": 20,
    "missing_name": 15,
    "missing_album_label": 5,
    "missing_release_date": 10,
}
QUALITY_GOOD_MIN = 80
QUALITY_FAIR_MIN = 50
TIERS = (QualityTier.GOOD, QualityTier.FAIR, QualityTier.POOR)
# What an operator filters tracks by (the admin, the API, re-enrichment): a tier, `low` (fair or
# poor: score < QUALITY_GOOD_MIN) or `unscored`; each the `quality_tier` values it means.
QUALITY_FILTERS: dict[str, list[str]] = {
    "low": [QualityTier.FAIR, QualityTier.POOR],
    **{tier.value: [tier.value] for tier in TIERS},
    "unscored": [""],
}
REFRESH_CHUNK = 10000

# One CASE per check; NULLs are removed, leaving the issue names.
_CHECKS_SQL = """
ARRAY_REMOVE(ARRAY[
    CASE WHEN t.isrc = '' THEN 'missing_isrc' END,
    CASE WHEN t.audio_features IS NULL AND t.features_unavailable_until IS NOT NULL THEN 'features_unavailable'
         WHEN t.audio_features IS NULL THEN 'features_missing' END,
    CASE WHEN TRIM(ar.name) = '' THEN 'missing_artist' END,
    CASE WHEN t.duration_ms = 0 THEN 'zero_duration' END,
    CASE WHEN TRIM(t.name) = '' THEN 'missing_name' END,
    CASE WHEN TRIM(al.label) = '' THEN 'missing_album_label' END,
    CASE WHEN TRIM(al.release_date) = '' THEN 'missing_release_date' END
]::varchar[], NULL)
"""


def _score_sql(issues: str) -> str:
    weights = ", ".join(f"('{issue}', {points})" for issue, points in QUALITY_WEIGHTS.items())
    return f"""GREATEST(0, 100 - COALESCE(
        (SELECT SUM(w.points) FROM unnest({issues}) AS i(issue) JOIN (VALUES {weights}) AS w(issue, points) ON w.issue = i.issue), 0
    ))::smallint"""


def _tier_sql(score: str) -> str:
    return f"CASE WHEN {score} >= {QUALITY_GOOD_MIN} THEN 'good' WHEN {score} >= {QUALITY_FAIR_MIN} THEN 'fair' ELSE 'poor' END"


def _update_sql(scope: str) -> str:
    return f"""
    WITH checked AS (
        SELECT t.id, {_CHECKS_SQL} AS issues
        FROM ingest_track t
        JOIN ingest_artist ar ON ar.id = t.artist_id
        JOIN ingest_album al ON al.id = t.album_id
        WHERE {scope}
    ), scored AS (
        SELECT c.id, c.issues, {_score_sql("c.issues")} AS score
        FROM checked c
    )
    UPDATE ingest_track t
    SET quality_issues = s.issues,
        quality_score = s.score,
        quality_tier = {_tier_sql("s.score")}
    FROM scored s
    WHERE t.id = s.id
      AND (t.quality_score IS DISTINCT FROM s.score OR t.quality_issues IS DISTINCT FROM s.issues)
    """


def quality_scored_sql(tracks: str) -> str:
    """SELECT of `tracks` (a relation with the track's columns, audio_features included) plus
    `quality_issues`, `quality_score` and `quality_tier` as tracks_quality_update would write
    them: ingest scores new tracks in the INSERT itself instead of rewriting them afterwards."""
    return f"""
    SELECT c.*, {_tier_sql("c.quality_score")} AS quality_tier FROM (
        SELECT checked.*, {_score_sql("checked.quality_issues")} AS quality_score FROM (
            SELECT t.*, {_CHECKS_SQL} AS quality_issues
            FROM ({tracks}) t
            JOIN ingest_artist ar ON ar.id = t.artist_id
            JOIN ingest_album al ON al.id = t.album_id
        ) checked
    ) c
    """


def tracks_quality_update(*, track_ids: Sequence[int] | None = None, album_ids: Sequence[int] | None = None) -> int:
    """Recompute quality of the given tracks and/or every track of the given albums, in one
    UPDATE; returns the rows whose score or issues changed."""
    clauses: list[str] = []
    params: list[Any] = []
    if track_ids:
        clauses.append("t.id = ANY(%s)")
        params.append(list(track_ids))
    if album_ids:
        clauses.append("t.album_id = ANY(%s)")
        params.append(list(album_ids))
    if not clauses:
        return 0
    with connection.cursor() as cursor:
        cursor.execute(_update_sql(" OR ".join(f"({c})" for c in clauses)), params)
        return cursor.rowcount


def tracks_quality_refresh_all(*, on_slice: Callable[[int], None] | None = None) -> int:
    """Every track, in pk slices so no transaction holds all rows (after a rule change or upgrade).

    `on_slice(n)` hears of each slice of n tracks done (the command's progress bar)."""
    changed = 0
    last_pk = 0
    while True:
        with transaction.atomic():
            with connection.cursor() as cursor:
                cursor.execute("SELECT id FROM ingest_track WHERE id > %s ORDER BY id LIMIT %s", [last_pk, REFRESH_CHUNK])
                ids = [row[0] for row in cursor.fetchall()]
            if not ids:
                break
            changed += tracks_quality_update(track_ids=ids)
        last_pk = ids[-1]
        if on_slice is not None:
            on_slice(len(ids))
    logger.info("track quality refreshed", extra={"changed": changed})
    return changed


@dataclass(frozen=True)
class QualityTally:
    """Tracks by tier ({good, fair, poor, unscored}), how many are scored and their average score,
    as counted at `counted_at`."""

    counts: dict[str, int]
    scored: int
    average: float | None
    counted_at: datetime


def tracks_quality_tally() -> QualityTally:
    """Count every track now, in one pass over the table (seconds at 10M tracks): the hourly metric
    snapshot keeps it, and the dashboard, `/metrics` and DataQualityScoreLow read it from there."""
    rows = Track.objects.values_list("quality_tier").annotate(
        n=Count("pk"), scored=Count("quality_score"), total=Sum("quality_score")
    )
    counts = {tier.value: 0 for tier in TIERS} | {"unscored": 0}
    scored = total = 0
    for tier, n, tier_scored, tier_total in rows.order_by():
        counts[tier or "unscored"] = int(n)
        scored += int(tier_scored)
        total += int(tier_total or 0)
    return QualityTally(counts=counts, scored=scored, average=total / scored if scored else None, counted_at=timezone.now())


@transaction.atomic
def tracks_reenrich(*, track_ids: Sequence[int], actor: str, trigger: str) -> tuple[int, JobRun | None]:
    """Put tracks back in the audio-features queue (forget "Spotify has none" and the fetch
    time) and queue one `fetch_audio_features` run, published on commit (job_enqueue);
    returns (tracks queued, that JobRun or None when no track matched)."""
    from jobs.services import job_enqueue

    ids = list(track_ids)
    count = Track.objects.filter(pk__in=ids).update(
        features_unavailable_until=None, features_fetched_at=None, updated_at=timezone.now()
    )
    run = None
    if count:
        tracks_quality_update(track_ids=ids)
        run = job_enqueue("fetch_audio_features", trigger=trigger, triggered_by=actor)
    logger.info("tracks queued for re-enrichment", extra={"tracks": count, "actor": actor})
    from audit.services import audit_record

    audit_record(
        actor=actor,
        action="tracks.reenrich",
        target_type="track",
        target_id=",".join(map(str, ids[:50])),
        target_repr=f"{count} tracks",
        details={"tracks": count, "task_id": run.task_id if run else None},
    )
    return count, run


def tracks_low_quality_ids(*, tier: str, limit: int) -> list[int]:
    """Ids of tracks in `tier` (`low` = fair or poor), worst first."""
    return list(
        Track.objects.filter(quality_tier__in=QUALITY_FILTERS[tier])
        .order_by("quality_score", "pk")
        .values_list("pk", flat=True)[:limit]
    )
