"""Audio features: fetching them for tracks that have none, within what the app may read."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone

from accounts.models import SpotifyApp
from core.redis import get_redis
from ingest.models import DeadLetter, Track
from ingest.quality import tracks_quality_update
from ingest.services.albums import queue_audio_features, retry_delay
from ingest.services.common import (
    OP_AUDIO_FEATURES,
    capability_learned,
    catalog_app,
    catalog_app_for_preview,
    catalog_client,
    chunks,
    error_type_of,
    features_denied_key,
    job_telemetry,
)
from ingest.services.dead_letters import dead_letter_record, dead_letter_replayer_register
from spotify.connectors import AUDIO_FEATURES_CONNECTORS, connector_setting, connectors_skip
from spotify.errors import (
    CircuitOpen,
    SpotifyAuthError,
    SpotifyBadRequest,
    SpotifyForbidden,
    SpotifyRateLimited,
    SpotifyServerError,
)
from spotify.previews import CallPlan

if TYPE_CHECKING:
    from spotify.client import SpotifyClient

AUDIO_FEATURES_MAX = 100
FEATURE_KEYS = (
    "danceability",
    "energy",
    "valence",
    "acousticness",
    "instrumentalness",
    "liveness",
    "speechiness",
    "loudness",
    "tempo",
    "key",
    "mode",
    "time_signature",
    "duration_ms",
)


def _features_allowed(app: SpotifyApp) -> bool:
    return app.can("audio_features") or not get_redis().exists(features_denied_key(app))


def audio_features_fetch(
    *, batch_size: int | None = None, max_seconds: float | None = None, client: SpotifyClient | None = None
) -> dict[str, Any]:
    """Audio features for tracks that have none, ≤100 ids per call.

    Ids Spotify answers null for get `features_unavailable_until` (now + configured days) so
    they are not asked for again every run. A 403 means the app may not read features (apps
    registered after Nov 2024, development mode): recorded on the app, and we stop asking
    until the recheck interval passes — features stay optional. A 429 past the ceiling or an
    open circuit ends the run with `retry_after`; 5xx after all retries dead-letters the batch.
    `batch_size` defaults to the `spotify.audio_features` connector's; a disabled connector
    skips the run (`skipped: disabled`).
    """
    from core.locks import LockBusy, redis_lock

    deadline = time.monotonic() + (max_seconds if max_seconds is not None else settings.INGEST_RUN_SECONDS)
    summary: dict[str, Any] = {
        "requested": 0,
        "stored": 0,
        "unavailable": 0,
        "calls": 0,
        "skipped": "",
        "retry_after": None,
        "more": False,
    }
    if skipped := connectors_skip(AUDIO_FEATURES_CONNECTORS, work="audio_features"):
        job_telemetry(operation="audio_features", outcome="skipped")
        return {**summary, **skipped}
    batch_size = max(1, min(batch_size or connector_setting("spotify.audio_features").batch_size, AUDIO_FEATURES_MAX))
    app = catalog_app()
    if not _features_allowed(app):
        summary["skipped"] = "audio features are refused to this app (403); recheck later"
        return summary
    try:
        with redis_lock("ingest:audio-features", ttl_seconds=settings.CELERY_TASK_TIME_LIMIT):
            if client is None:
                client = catalog_client(app)
            _audio_features_loop(client=client, app=app, batch_size=batch_size, deadline=deadline, summary=summary)
    except LockBusy:
        summary["skipped"] = "another worker is fetching audio features"
    return summary


def _audio_features_loop(
    *, client: SpotifyClient, app: SpotifyApp, batch_size: int, deadline: float, summary: dict[str, Any]
) -> None:
    last_pk = 0
    while True:
        now = timezone.now()
        due = Q(features_unavailable_until__isnull=True) | Q(features_unavailable_until__lte=now)
        batch = list(
            Track.objects.filter(due, features_fetched_at__isnull=True, pk__gt=last_pk)
            .order_by("pk")
            .values_list("pk", "spotify_id")[:batch_size]
        )
        if not batch:
            return
        if time.monotonic() >= deadline:
            summary["more"] = True
            return
        last_pk = batch[-1][0]
        ids = [sid for _, sid in batch]
        started = time.monotonic()
        try:
            answer = client.audio_features(ids)
        except SpotifyForbidden as exc:
            capability_learned(app=app, capability="audio_features", allowed=False)
            # Stop asking; one probe after the recheck interval (the app may have been upgraded).
            get_redis().set(features_denied_key(app), "1", ex=settings.AUDIO_FEATURES_RECHECK_HOURS * 3600)
            summary["skipped"] = f"audio features refused to this app: {exc}"
            job_telemetry(operation="audio_features", outcome="skipped", error=f"forbidden: {exc}")
            return
        except (SpotifyRateLimited, CircuitOpen) as exc:
            summary["retry_after"] = retry_delay(exc=exc, attempts=1)
            summary["skipped"] = error_type_of(exc)
            job_telemetry(operation="audio_features", outcome="failed", error=f"{error_type_of(exc)}: {exc}")
            return
        except (SpotifyServerError, SpotifyAuthError, SpotifyBadRequest) as exc:
            dead_letter_record(
                source_service=f"spotify.{exc.endpoint or 'audio_features'}",
                operation=OP_AUDIO_FEATURES,
                error_type=error_type_of(exc),
                error_message=str(exc),
                payload={"track_ids": ids},
                retry_count=settings.SPOTIFY_MAX_ATTEMPTS,
            )
            summary["skipped"] = error_type_of(exc)
            job_telemetry(operation="audio_features", outcome="failed", error=f"{error_type_of(exc)}: {exc}")
            return
        summary["calls"] += 1
        summary["requested"] += len(ids)
        if app.capabilities.get("audio_features") is False:
            capability_learned(app=app, capability="audio_features", allowed=True)
        _features_store(batch=batch, answer=answer, summary=summary)
        job_telemetry(operation="audio_features", outcome="succeeded", latency_ms=(time.monotonic() - started) * 1000)


def _features_store(*, batch: list[tuple[int, str]], answer: list[dict[str, Any] | None], summary: dict[str, Any]) -> None:
    now = timezone.now()
    retry_at = now + timedelta(days=settings.AUDIO_FEATURES_NULL_RETRY_DAYS)
    by_id = {item["id"]: item for item in answer if item and item.get("id")}
    found_pks: list[int] = []
    found_json: list[str] = []
    missing: list[int] = []
    for pk, sid in batch:
        features = by_id.get(sid)
        if features is None:
            missing.append(pk)
        else:
            found_pks.append(pk)
            found_json.append(json.dumps({k: features[k] for k in FEATURE_KEYS if k in features}))
    with transaction.atomic():
        if found_pks:
            # One UPDATE ... FROM unnest(): bulk_update's CASE WHEN per row costs more than the call itself.
            with connection.cursor() as cursor:
                cursor.execute(
                    f"""
                    UPDATE {Track._meta.db_table} AS t
                    SET audio_features = v.features::jsonb, features_fetched_at = %s,
                        features_unavailable_until = NULL, updated_at = %s
                    FROM unnest(%s::bigint[], %s::text[]) AS v(id, features)
                    WHERE t.id = v.id
                    """,
                    [now, now, found_pks, found_json],
                )
        if missing:
            Track.objects.filter(pk__in=missing).update(features_unavailable_until=retry_at)
        tracks_quality_update(track_ids=[pk for pk, _ in batch])
    summary["stored"] += len(found_pks)
    summary["unavailable"] += len(missing)


def _replay_audio_features(letter: DeadLetter) -> Callable[[], None]:
    return lambda: queue_audio_features(reason="dead letters replayed")


def _preview_audio_features(letters: list[DeadLetter], plan: CallPlan) -> None:
    """A replay queues one audio_features_fetch run, which asks for the letters' tracks still
    without features in batches of the connector's size (≤100 ids a call)."""
    app = catalog_app_for_preview()
    app_key = str(app.pk)
    track_ids: set[str] = set()
    for letter in letters:
        track_ids.update(str(sid) for sid in (letter.payload or {}).get("track_ids") or [])
        plan.add(str(letter.pk), app_key=app_key, calls_min=0, calls_max=0)
    missing = Track.objects.filter(spotify_id__in=track_ids, features_fetched_at__isnull=True).count()
    if app.pk is not None and not _features_allowed(app):
        plan.notes.append("Audio features are refused to this app (403): the run asks for none until the recheck.")
        return
    batch_size = max(1, min(connector_setting("spotify.audio_features").batch_size, AUDIO_FEATURES_MAX))
    calls = len(list(chunks(range(missing), batch_size)))
    plan.calls(app_key=app_key, calls_min=calls, calls_max=calls)
    plan.notes.append("The run also asks for any other track still without features.")


dead_letter_replayer_register(OP_AUDIO_FEATURES, _replay_audio_features, preview=_preview_audio_features)
