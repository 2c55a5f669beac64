"""Reads for the ingest doors: dead-letter stats and groups, track lists, queue counts."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db.models import Count, Max, Min, Q, QuerySet, Sum
from django.utils import timezone

from ingest.models import AlbumSource, DeadLetter, Track
from ingest.parsing import ALBUM_ID_LENGTH
from jobs.models import JobRun

ERROR_RATE_WINDOW_MINUTES = 60
GROUP_SAMPLE_MESSAGES = 3


# The job that owns the album-source queue.
INGEST_JOB = "ingest_albums_from_sources"


def _pending() -> QuerySet[DeadLetter]:
    return DeadLetter.objects.filter(status=DeadLetter.Status.PENDING)


def _age_minutes(moment: datetime | None, now: datetime) -> float | None:
    return None if moment is None else round((now - moment).total_seconds() / 60, 1)


def dead_letter_stats(*, now: datetime | None = None) -> dict[str, Any]:
    """`dlq/stats` (docs/runbooks/dead-letters-circuit-breakers.md): depth, oldest/newest age, error rate over the last hour."""
    now = now or timezone.now()
    window_start = now - timedelta(minutes=ERROR_RATE_WINDOW_MINUTES)
    totals = _pending().aggregate(
        total=Count("pk"),
        occurrences=Sum("occurrences"),
        oldest=Min("first_seen"),
        newest=Max("last_seen"),
        recent=Count("pk", filter=Q(last_seen__gte=window_start)),
    )
    by_type = dict(_pending().values_list("error_type").annotate(n=Count("pk")).order_by("-n"))
    by_service = dict(_pending().values_list("source_service").annotate(n=Count("pk")).order_by("-n"))
    return {
        "total_messages": totals["total"],
        "total_occurrences": totals["occurrences"] or 0,
        "oldest_message_age_minutes": _age_minutes(totals["oldest"], now),
        "newest_message_age_minutes": _age_minutes(totals["newest"], now),
        "error_rate_per_minute": round(totals["recent"] / ERROR_RATE_WINDOW_MINUTES, 3),
        "error_rate_window_minutes": ERROR_RATE_WINDOW_MINUTES,
        "by_error_type": by_type,
        "by_service": by_service,
    }


def dead_letter_errors_grouped() -> dict[str, int]:
    """`{error_type: count}` over pending dead letters, biggest first."""
    return dict(_pending().values_list("error_type").annotate(n=Count("pk")).order_by("-n", "error_type"))


def dead_letter_errors_grouped_detail() -> list[dict[str, Any]]:
    """Per error type and service: count, first/last seen and a few sample messages."""
    groups: list[dict[str, Any]] = [
        dict(row)
        for row in _pending()
        .values("error_type", "source_service")
        .annotate(count=Count("pk"), first_seen=Min("first_seen"), last_seen=Max("last_seen"))
        .order_by("-count", "error_type")
    ]
    for group in groups:
        recent = (
            _pending()
            .filter(error_type=group["error_type"], source_service=group["source_service"])
            .order_by("-last_seen")
            .values_list("error_message", flat=True)[:50]
        )
        group["sample_messages"] = list(dict.fromkeys(recent))[:GROUP_SAMPLE_MESSAGES]
    return groups


def dead_letter_messages(*, limit: int, error_type: str = "", source_service: str = "") -> QuerySet[DeadLetter]:
    letters = _pending().order_by("-last_seen", "-pk")
    if error_type:
        letters = letters.filter(error_type=error_type)
    if source_service:
        letters = letters.filter(source_service=source_service)
    return letters[:limit]


def _looks_like_spotify_id(term: str) -> bool:
    return len(term) == ALBUM_ID_LENGTH and term.isalnum()


def tracks_list(
    *, has_features: bool | None = None, artist: str = "", album: str = "", search: str = "", quality: str = ""
) -> QuerySet[Track]:
    """Tracks with their artist and album; `artist`/`album` take a Spotify id or a name fragment;
    `search` matches a Spotify id or ISRC exactly, else the track name; `quality` a tier,
    `low` (fair or poor) or `unscored`."""
    tracks = Track.objects.select_related("artist", "album").order_by("pk")
    if quality == "low":
        tracks = tracks.filter(quality_tier__in=["fair", "poor"])
    elif quality == "unscored":
        tracks = tracks.filter(quality_tier="")
    elif quality:
        tracks = tracks.filter(quality_tier=quality)
    if has_features is True:
        tracks = tracks.filter(features_fetched_at__isnull=False)
    elif has_features is False:
        tracks = tracks.filter(features_fetched_at__isnull=True)
    if artist:
        tracks = (
            tracks.filter(artist__spotify_id=artist)
            if _looks_like_spotify_id(artist)
            else tracks.filter(artist__name__icontains=artist)
        )
    if album:
        tracks = (
            tracks.filter(album__spotify_id=album)
            if _looks_like_spotify_id(album)
            else tracks.filter(album__name__icontains=album)
        )
    if search:
        term = search.strip()
        if _looks_like_spotify_id(term):
            tracks = tracks.filter(spotify_id=term)
        else:
            tracks = tracks.filter(Q(isrc=term.upper()) | Q(name__icontains=term))
    return tracks


def album_source_counts() -> dict[str, int]:
    counts = dict(AlbumSource.objects.values_list("status").annotate(n=Count("pk")))
    return {status: counts.get(status, 0) for status in AlbumSource.Status.values}


def ingest_stalled(*, now: datetime | None = None) -> dict[str, Any] | None:
    """Stalled ingest (docs/runbooks/stalled-ingest.md): the ingest job started, at least
    INGEST_STALLED_MINUTES ago, on sources that were already waiting, and no source has finished
    since. Sources queued after the last run wait for the next one on the schedule (ingest runs
    nightly): that is not a stall, and a run that never comes is JobLate's and BeatGone's to report.
    None when ingest moves or has had no chance to."""
    now = now or timezone.now()
    window_start = now - timedelta(minutes=settings.INGEST_STALLED_MINUTES)
    # Health probes call this: each step is one index lookup, and the count only runs when stalled.
    run_started = (
        JobRun.objects.filter(job_name=INGEST_JOB, started_at__lte=window_start)
        .order_by("-started_at")
        .values_list("started_at", flat=True)
        .first()
    )
    if run_started is None:
        return None
    waiting = AlbumSource.objects.filter(status=AlbumSource.Status.QUEUED, created_at__lt=run_started)
    if not waiting.exists():
        return None
    last_finished = (
        AlbumSource.objects.filter(finished_at__isnull=False)
        .order_by("-finished_at")
        .values_list("finished_at", flat=True)
        .first()
    )
    if last_finished is not None and last_finished >= run_started:
        return None
    return {
        "source": "ingest",
        "reason": "stalled",
        "queued": waiting.count(),
        "last_finished_at": last_finished.isoformat() if last_finished else None,
        "window_minutes": settings.INGEST_STALLED_MINUTES,
    }


def ingest_stall_reason(now: datetime) -> str | None:
    """Why the ingest job counts as late when its queue stalls (jobs.selectors' stall probe)."""
    stalled = ingest_stalled(now=now)
    if stalled is None:
        return None
    last = stalled["last_finished_at"] or "never"
    return f"stalled: {stalled['queued']} album sources queued, none finished in {stalled['window_minutes']} min (last finished: {last})"


def connector_health() -> tuple[dict[str, bool], list[dict[str, Any]]]:
    """({connector name: enabled}, issues for the disabled ones) for /api/health and the dashboard."""
    from spotify.connectors import connector_settings_all

    enabled = {name: config.enabled for name, config in connector_settings_all().items()}
    issues = []
    for name, on in sorted(enabled.items()):
        if not on:
            source, _, operation = name.partition(".")
            issues.append({"source": source, "operation": operation, "connector": name, "reason": "disabled"})
    return enabled, issues
