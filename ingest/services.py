"""Ingest: album sources queue → albums, artists, tracks → audio features; dead letters.

Every door (admin, API, Celery task, command) calls these functions; they hold the rules.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from datetime import time as dt_time
from typing import TYPE_CHECKING, Any, Literal, TypeVar

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.db.models import Case, F, Q, Value, When
from django.utils import timezone

from accounts.models import SpotifyApp
from ingest.connectors import AUDIO_FEATURES_CONNECTORS, INGEST_CONNECTORS, connector_setting, connectors_disabled
from ingest.models import Album, AlbumSource, Artist, DeadLetter, Track
from ingest.parsing import album_id_parse
from ingest.quality import tracks_quality_update
from opsconsole.counters import counter_inc
from opsconsole.logging import log_context
from opsconsole.redis import get_redis, key
from opsconsole.spotify.breaker import breaker_reset, breaker_reset_all
from opsconsole.spotify.errors import (
    CircuitOpen,
    SpotifyAuthError,
    SpotifyBadRequest,
    SpotifyError,
    SpotifyForbidden,
    SpotifyNotFound,
    SpotifyRateLimited,
    SpotifyServerError,
)
from opsconsole.spotify.telemetry import Outcome, telemetry_record

if TYPE_CHECKING:
    from opsconsole.spotify.client import SpotifyClient

logger = logging.getLogger(__name__)

SEVERAL_ALBUMS_MAX = 20
ALBUM_TRACKS_PAGE = 50
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
OP_INGEST_ALBUM = "ingest_album"
OP_AUDIO_FEATURES = "fetch_audio_features"

T = TypeVar("T")


def _chunks(items: Sequence[T], size: int) -> Iterator[Sequence[T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def error_type_of(exc: BaseException) -> str:
    """The runbook's error vocabulary (seed 003 groups the DLQ by these)."""
    if isinstance(exc, CircuitOpen):
        return "circuit_breaker_open"
    if isinstance(exc, SpotifyRateLimited):
        return "api_rate_limit"
    if isinstance(exc, SpotifyServerError):
        return "server_error"
    if isinstance(exc, SpotifyAuthError):
        return "auth_error"
    if isinstance(exc, SpotifyForbidden):
        return "forbidden"
    if isinstance(exc, SpotifyNotFound):
        return "not_found"
    if isinstance(exc, SpotifyBadRequest):
        return "invalid_data"
    return type(exc).__name__


def _telemetry(*, operation: str, outcome: Outcome, latency_ms: float | None = None, error: str = "") -> None:
    """Job-level telemetry under source "ingest": what /health lists as ingestion issues."""
    telemetry_record(source="ingest", operation=operation, outcome=outcome, latency_ms=latency_ms, error=error)


def _skip_disabled(*, summary: dict[str, Any], disabled: list[str], operation: str) -> dict[str, Any]:
    """An operator disabled a connector this job needs: touch nothing, say so in the JobRun."""
    summary["skipped"] = "disabled"
    summary["disabled_connectors"] = disabled
    _telemetry(operation=operation, outcome="skipped")
    logger.warning("job skipped: connector disabled", extra={"operation": operation, "connectors": disabled})
    return summary


# --- Spotify app and client ------------------------------------------------------------


def catalog_app() -> SpotifyApp:
    from accounts.services import app_get_or_create_default

    return app_get_or_create_default()


def _catalog_client(app: SpotifyApp) -> SpotifyClient:
    from accounts.services import spotify_client_for_catalog

    return spotify_client_for_catalog(app)


def _capability_learned(*, app: SpotifyApp, capability: str, allowed: bool) -> None:
    from accounts.services import app_record_capability

    app_record_capability(app=app, capability=capability, allowed=allowed)


def _persist_learned(*, client: SpotifyClient, app: SpotifyApp) -> None:
    """The client falls back by itself on a 403 (e.g. single-album calls); keep the lesson on the
    app so the next run does not spend a call learning it again."""
    for capability, allowed in getattr(client, "learned", {}).items():
        if app.can(capability) != allowed:
            _capability_learned(app=app, capability=capability, allowed=allowed)


def _features_denied_key(app: SpotifyApp) -> str:
    return key("ingest", "audio-features-denied", app.pk)


# --- Submitting album sources ------------------------------------------------------------

SubmitStatus = Literal["accepted", "duplicate", "invalid"]


@dataclass(frozen=True)
class SubmitResult:
    input: str
    status: SubmitStatus
    album_id: str = ""
    reason: str = ""
    source_id: int | None = None


@transaction.atomic
def album_sources_submit(*, raw_inputs: list[str], submitted_by: str) -> list[SubmitResult]:
    """Queue album URLs/URIs/ids, one result per input in order.

    Valid and new → `accepted` (an AlbumSource queued); already queued, done or failed, or
    repeated in this call → `duplicate` (with the existing source); anything else →
    `invalid` with the reason, stored as an `invalid` AlbumSource so nothing is lost.
    """
    # Serialise submitters: the existence check below and the insert must see the same queue.
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(hashtext('ingest.album_sources_submit'))")
    # PostgreSQL text cannot hold NUL; a pasted binary line is still kept (and marked invalid).
    raw_inputs = [raw.replace("\x00", "\ufffd") for raw in raw_inputs]
    parsed = [album_id_parse(raw) for raw in raw_inputs]
    wanted = {p.album_id for p in parsed if p.ok}
    existing: dict[str, AlbumSource] = {}
    for chunk in _chunks(sorted(wanted), 1000):
        for source in AlbumSource.objects.filter(spotify_album_id__in=chunk).exclude(status=AlbumSource.Status.INVALID):
            existing[source.spotify_album_id] = source

    to_create: list[AlbumSource] = []
    plan: list[tuple[str, Any]] = []  # ("new", AlbumSource) | ("dup", AlbumSource | index) | ("invalid", AlbumSource)
    first_in_call: dict[str, AlbumSource] = {}
    for raw, result in zip(raw_inputs, parsed, strict=True):
        if not result.ok:
            source = AlbumSource(
                raw_input=raw[:2000], status=AlbumSource.Status.INVALID, last_error=result.reason, submitted_by=submitted_by
            )
            to_create.append(source)
            plan.append(("invalid", source))
        elif result.album_id in existing:
            plan.append(("dup", existing[result.album_id]))
        elif result.album_id in first_in_call:
            plan.append(("dup_here", first_in_call[result.album_id]))
        else:
            source = AlbumSource(raw_input=raw.strip()[:2000], spotify_album_id=result.album_id, submitted_by=submitted_by)
            first_in_call[result.album_id] = source
            to_create.append(source)
            plan.append(("new", source))
    AlbumSource.objects.bulk_create(to_create, batch_size=500)

    results: list[SubmitResult] = []
    for raw, (kind, source) in zip(raw_inputs, plan, strict=True):
        if kind == "new":
            results.append(SubmitResult(raw, "accepted", source.spotify_album_id, "", source.pk))
        elif kind == "invalid":
            results.append(SubmitResult(raw, "invalid", "", source.last_error, source.pk))
        elif kind == "dup_here":
            results.append(SubmitResult(raw, "duplicate", source.spotify_album_id, "repeated in this submission", source.pk))
        else:
            reason = f"already {source.status}"
            if source.status == AlbumSource.Status.FAILED and source.last_error:
                reason += f" ({source.last_error[:200]}); requeue it from the admin or replay its dead letter"
            results.append(SubmitResult(raw, "duplicate", source.spotify_album_id, reason, source.pk))
    accepted = sum(1 for r in results if r.status == "accepted")
    if accepted:
        counter_inc("ingest_sources_submitted_total", accepted)
    return results


@transaction.atomic
def album_sources_requeue(*, source_ids: Iterable[int]) -> int:
    """Put failed sources back in the queue with a fresh attempt budget."""
    return AlbumSource.objects.filter(pk__in=list(source_ids), status=AlbumSource.Status.FAILED).update(
        status=AlbumSource.Status.QUEUED, attempts=0, not_before=None, claimed_at=None, finished_at=None
    )


# --- Ingesting albums ---------------------------------------------------------------------


def _claim_sources(*, batch_size: int, now: datetime) -> list[AlbumSource]:
    """Claim queued sources (and ones a dead worker left in `processing`) in a short transaction.

    skip_locked: two workers claiming at once take different rows; the status change commits
    before any Spotify call, so a crash leaves the rows re-claimable once they are stale.
    """
    stale_before = now - timedelta(minutes=settings.INGEST_CLAIM_STALE_MINUTES)
    ready = Q(status=AlbumSource.Status.QUEUED) & (Q(not_before__isnull=True) | Q(not_before__lte=now))
    stale = Q(status=AlbumSource.Status.PROCESSING, claimed_at__lt=stale_before)
    with transaction.atomic():
        rows = list(
            AlbumSource.objects.select_for_update(skip_locked=True)
            .filter(ready | stale)
            .order_by("created_at", "pk")[:batch_size]
        )
        if not rows:
            return []
        # A stale claim is an attempt that died with its worker: it counts.
        AlbumSource.objects.filter(pk__in=[r.pk for r in rows]).update(
            status=AlbumSource.Status.PROCESSING,
            claimed_at=now,
            attempts=F("attempts") + Case(When(status=AlbumSource.Status.PROCESSING, then=Value(1)), default=Value(0)),
        )
    for row in rows:
        if row.status == AlbumSource.Status.PROCESSING:
            row.attempts += 1
        row.status = AlbumSource.Status.PROCESSING
        row.claimed_at = now
    return rows


@dataclass
class _Fetched:
    source: AlbumSource
    album: dict[str, Any]
    tracks: list[dict[str, Any]]


@dataclass
class _ChunkOutcome:
    fetched: list[_Fetched] = field(default_factory=list)
    failed: list[tuple[AlbumSource, str]] = field(default_factory=list)
    transient: list[tuple[AlbumSource, SpotifyError]] = field(default_factory=list)
    # A 429 past the sleep ceiling or an open circuit: stop calling, park the rest.
    stop: SpotifyError | None = None


def _album_tracks_complete(client: SpotifyClient, album: dict[str, Any]) -> list[dict[str, Any]]:
    """The album's tracks: the page the album object embeds, plus further pages only if needed."""
    page = album.get("tracks") or {}
    items: list[dict[str, Any]] = [t for t in page.get("items") or [] if t]
    total = int(page.get("total") or len(items))
    while len(items) < total:
        more = client.album_tracks(album["id"], offset=len(items), limit=ALBUM_TRACKS_PAGE)
        new_items = [t for t in more.get("items") or [] if t]
        if not new_items:
            break
        items.extend(new_items)
    return items


def _fetch_chunk(*, client: SpotifyClient, app: SpotifyApp, sources: Sequence[AlbumSource], several: bool) -> _ChunkOutcome:
    outcome = _ChunkOutcome()
    by_id = {s.spotify_album_id: s for s in sources}
    ids = list(by_id)
    albums: dict[str, dict[str, Any] | None] = {}
    if several:
        try:
            answer = client.several_albums(ids)
            albums = {album_id: album for album_id, album in zip(ids, answer, strict=False)}
        except SpotifyForbidden:
            # Development-mode apps may not use the batch endpoint: learn it, go one by one.
            _capability_learned(app=app, capability="several_albums", allowed=False)
            several = False
        except SpotifyBadRequest:
            # One bad id spoils a batch call; single calls isolate it.
            several = False
        except (SpotifyRateLimited, CircuitOpen) as exc:
            outcome.transient.extend((s, exc) for s in sources)
            outcome.stop = exc
            return outcome
        except (SpotifyServerError, SpotifyAuthError) as exc:
            outcome.transient.extend((s, exc) for s in sources)
            return outcome
    for position, album_id in enumerate(ids):
        source = by_id[album_id]
        try:
            album = albums.get(album_id) if several else client.album(album_id)
            if album is None:
                outcome.failed.append((source, "album not found on Spotify (no album for this id)"))
                continue
            outcome.fetched.append(_Fetched(source, album, _album_tracks_complete(client, album)))
        except SpotifyNotFound:
            outcome.failed.append((source, "album not found on Spotify (404)"))
        except (SpotifyBadRequest, SpotifyForbidden) as exc:
            outcome.failed.append((source, f"Spotify refused the album: {exc}"))
        except (SpotifyRateLimited, CircuitOpen) as exc:
            outcome.transient.append((source, exc))
            outcome.stop = exc
            # Sources not tried yet go back untouched (no attempt counted).
            outcome.transient.extend((by_id[rest], _NotTried(exc)) for rest in ids[position + 1 :])
            return outcome
        except (SpotifyServerError, SpotifyAuthError) as exc:
            outcome.transient.append((source, exc))
    return outcome


class _NotTried(SpotifyError):
    """Marker: parked behind another album's 429/open circuit, not an attempt of its own."""

    def __init__(self, cause: SpotifyError) -> None:
        super().__init__(f"parked behind: {cause}", status=cause.status, endpoint=cause.endpoint)
        self.cause = cause


def _artist_of(entity: dict[str, Any]) -> dict[str, Any] | None:
    artists = [a for a in entity.get("artists") or [] if a and a.get("id")]
    return artists[0] if artists else None


def _catalog_upsert(fetched: Sequence[_Fetched]) -> tuple[dict[str, int], int, int]:
    """Bulk upsert artists, albums and tracks; returns (album pk by Spotify id, created, updated).

    Rows go in Spotify-id order so concurrent workers lock shared artists in the same order.
    """
    now = timezone.now()
    artists: dict[str, str] = {}
    for item in fetched:
        for entity in [item.album, *item.tracks]:
            artist = _artist_of(entity)
            if artist:
                artists[artist["id"]] = (artist.get("name") or "")[:300]
    artist_rows = Artist.objects.bulk_create(
        [Artist(spotify_id=sid, name=artists[sid], updated_at=now) for sid in sorted(artists)],
        update_conflicts=True,
        unique_fields=["spotify_id"],
        update_fields=["name", "updated_at"],
    )
    artist_pk = {a.spotify_id: a.pk for a in artist_rows}

    album_objs: dict[str, Album] = {}
    for item in fetched:
        album = item.album
        artist = _artist_of(album)
        album_objs[album["id"]] = Album(
            spotify_id=album["id"],
            name=(album.get("name") or "")[:300],
            label=(album.get("label") or "")[:300],
            release_date=(album.get("release_date") or "")[:10],
            total_tracks=int(album.get("total_tracks") or len(item.tracks)),
            artist_id=artist_pk.get(artist["id"]) if artist else None,
            updated_at=now,
        )
    album_rows = Album.objects.bulk_create(
        [album_objs[sid] for sid in sorted(album_objs)],
        update_conflicts=True,
        unique_fields=["spotify_id"],
        update_fields=["name", "label", "release_date", "total_tracks", "artist", "updated_at"],
    )
    album_pk = {a.spotify_id: a.pk for a in album_rows}

    track_objs: dict[str, Track] = {}
    for item in fetched:
        album_artist = _artist_of(item.album)
        for track in item.tracks:
            if not track.get("id"):
                continue
            artist = _artist_of(track) or album_artist
            if artist is None:
                continue
            track_objs[track["id"]] = Track(
                spotify_id=track["id"],
                name=(track.get("name") or "")[:300],
                album_id=album_pk[item.album["id"]],
                artist_id=artist_pk[artist["id"]],
                isrc=((track.get("external_ids") or {}).get("isrc") or "")[:20],
                duration_ms=int(track.get("duration_ms") or 0),
                disc_number=int(track.get("disc_number") or 1),
                track_number=int(track.get("track_number") or 1),
                explicit=bool(track.get("explicit")),
                updated_at=now,
            )
    track_ids = sorted(track_objs)
    known: set[str] = set()
    for chunk in _chunks(track_ids, 5000):
        known.update(Track.objects.filter(spotify_id__in=chunk).values_list("spotify_id", flat=True))
    # audio_features is not in update_fields: re-ingesting keeps what was fetched.
    Track.objects.bulk_create(
        [track_objs[sid] for sid in track_ids],
        batch_size=1000,
        update_conflicts=True,
        unique_fields=["spotify_id"],
        update_fields=["name", "album", "artist", "isrc", "duration_ms", "disc_number", "track_number", "explicit", "updated_at"],
    )
    return album_pk, len(track_ids) - len(known), len(known)


def _retry_delay(*, exc: SpotifyError, attempts: int) -> float:
    if isinstance(exc, _NotTried):
        exc = exc.cause
    if isinstance(exc, SpotifyRateLimited):
        return max(exc.retry_after, 1.0)
    if isinstance(exc, CircuitOpen):
        return max(exc.remaining, 1.0)
    return float(min(settings.INGEST_RETRY_BASE_SECONDS * 2 ** max(attempts - 1, 0), 3600))


def _apply_outcome(*, outcome: _ChunkOutcome, claim_at: datetime, summary: dict[str, Any]) -> None:
    now = timezone.now()
    mine = Q(status=AlbumSource.Status.PROCESSING, claimed_at=claim_at)
    if outcome.fetched:
        with transaction.atomic():
            album_pk, created, updated = _catalog_upsert(outcome.fetched)
            tracks_quality_update(album_ids=list(album_pk.values()))
            done = AlbumSource.objects.filter(mine, pk__in=[f.source.pk for f in outcome.fetched]).update(
                status=AlbumSource.Status.DONE,
                album_id=Case(*[When(pk=f.source.pk, then=Value(album_pk[f.source.spotify_album_id])) for f in outcome.fetched]),
                finished_at=now,
                last_error="",
                not_before=None,
            )
        summary["albums_done"] += done
        summary["tracks_created"] += created
        summary["tracks_updated"] += updated
    for source, reason in outcome.failed:
        AlbumSource.objects.filter(mine, pk=source.pk).update(
            status=AlbumSource.Status.FAILED, last_error=reason, finished_at=now
        )
        summary["failed"] += 1
    for source, exc in outcome.transient:
        counted = not isinstance(exc, _NotTried)
        attempts = source.attempts + (1 if counted else 0)
        message = f"{error_type_of(exc.cause if isinstance(exc, _NotTried) else exc)}: {exc}"[:2000]
        if counted and attempts >= settings.INGEST_MAX_ATTEMPTS:
            with transaction.atomic():
                changed = AlbumSource.objects.filter(mine, pk=source.pk).update(
                    status=AlbumSource.Status.FAILED,
                    attempts=attempts,
                    finished_at=now,
                    last_error=f"gave up after {attempts} attempts; dead-lettered. Last: {message}",
                )
                if changed:
                    dead_letter_record(
                        source_service=f"spotify.{exc.endpoint or 'albums'}",
                        operation=OP_INGEST_ALBUM,
                        error_type=error_type_of(exc),
                        error_message=str(exc),
                        payload={"album_source_id": source.pk, "spotify_album_id": source.spotify_album_id},
                        retry_count=attempts,
                    )
            summary["dead_lettered"] += changed
        else:
            summary["requeued"] += AlbumSource.objects.filter(mine, pk=source.pk).update(
                status=AlbumSource.Status.QUEUED,
                attempts=attempts,
                claimed_at=None,
                last_error=message,
                not_before=now + timedelta(seconds=_retry_delay(exc=exc, attempts=attempts)),
            )


def _claims_key(owner: str) -> str:
    return key("ingest", "claims", owner)


def _claims_remember(*, owner: str, claim_at: datetime) -> None:
    client = get_redis()
    client.sadd(_claims_key(owner), claim_at.isoformat())
    # Past the stale age any run takes them back anyway.
    client.expire(_claims_key(owner), settings.INGEST_CLAIM_STALE_MINUTES * 60)


def _claims_of_dead_run_release(*, owner: str) -> int:
    """Requeue what an earlier delivery of this task claimed and left in `processing`.

    A task redelivered after its worker was killed (acks_late) would otherwise find its own
    sources claimed and leave them until they go stale; the dead run counts as an attempt.
    """
    client = get_redis()
    claims = [datetime.fromisoformat(str(value)) for value in client.smembers(_claims_key(owner))]
    if not claims:
        return 0
    released = AlbumSource.objects.filter(status=AlbumSource.Status.PROCESSING, claimed_at__in=claims).update(
        status=AlbumSource.Status.QUEUED,
        claimed_at=None,
        not_before=None,
        attempts=F("attempts") + 1,
        last_error="worker lost mid-ingest; taken back by the redelivered run",
    )
    client.delete(_claims_key(owner))
    return released


def _release(*, sources: Sequence[AlbumSource], claim_at: datetime, until: datetime, reason: str) -> int:
    """Hand claimed-but-untried sources back to the queue without counting an attempt."""
    return AlbumSource.objects.filter(
        pk__in=[s.pk for s in sources], status=AlbumSource.Status.PROCESSING, claimed_at=claim_at
    ).update(status=AlbumSource.Status.QUEUED, claimed_at=None, not_before=until, last_error=reason[:2000])


def ingest_albums_from_sources(
    *,
    batch_size: int | None = None,
    max_seconds: float | None = None,
    client: SpotifyClient | None = None,
    claim_owner: str | None = None,
) -> dict[str, Any]:
    """Claim queued album sources batch by batch and turn them into albums, artists and tracks.

    Several-albums calls take ≤20 ids; album tracks are paged only past the page embedded in
    the album. Each source ends `done`, `failed` (with the reason; a 404/null album does not
    stop the batch) or back in the queue with `not_before` after a transient error — after
    INGEST_MAX_ATTEMPTS of those it fails and is dead-lettered. A 429 past the sleep ceiling or
    an open circuit parks the rest and ends the run; `retry_after` says when to come back.
    Queues one `fetch_audio_features` run (on commit) when new tracks arrived.
    `claim_owner` (the task id) lets a redelivered task take back what its killed run claimed.
    """
    deadline = time.monotonic() + (max_seconds if max_seconds is not None else settings.INGEST_RUN_SECONDS)
    summary: dict[str, Any] = {
        "claimed": 0,
        "albums_done": 0,
        "failed": 0,
        "requeued": 0,
        "dead_lettered": 0,
        "parked": 0,
        "tracks_created": 0,
        "tracks_updated": 0,
        "retry_after": None,
        "more": False,
        "stopped_by": "",
    }
    disabled = connectors_disabled(INGEST_CONNECTORS)
    if disabled:
        return _skip_disabled(summary=summary, disabled=disabled, operation="albums")
    batch_size = max(1, batch_size or connector_setting("spotify.albums").batch_size)
    app = catalog_app()
    started = time.monotonic()
    if claim_owner:
        summary["taken_back"] = _claims_of_dead_run_release(owner=claim_owner)
    if client is None:
        client = _catalog_client(app)
    while True:
        if time.monotonic() >= deadline:
            now = timezone.now()
            summary["more"] = AlbumSource.objects.filter(
                Q(not_before__isnull=True) | Q(not_before__lte=now), status=AlbumSource.Status.QUEUED
            ).exists()
            break
        claim_at = timezone.now()
        sources = _claim_sources(batch_size=batch_size, now=claim_at)
        if not sources:
            break
        if claim_owner:
            _claims_remember(owner=claim_owner, claim_at=claim_at)
        summary["claimed"] += len(sources)
        sources = _dead_letter_exhausted(sources=sources, claim_at=claim_at, summary=summary)
        stop: SpotifyError | None = None
        for position, chunk in enumerate(_chunks(sources, SEVERAL_ALBUMS_MAX)):
            several = app.can("several_albums")
            outcome = _fetch_chunk(client=client, app=app, sources=chunk, several=several)
            _persist_learned(client=client, app=app)
            _apply_outcome(outcome=outcome, claim_at=claim_at, summary=summary)
            if outcome.stop is not None:
                stop = outcome.stop
                rest = sources[(position + 1) * SEVERAL_ALBUMS_MAX :]
                delay = _retry_delay(exc=stop, attempts=1)
                summary["parked"] += _release(
                    sources=rest,
                    claim_at=claim_at,
                    until=timezone.now() + timedelta(seconds=delay),
                    reason=f"parked: {error_type_of(stop)}: {stop}",
                )
                summary["retry_after"] = delay
                summary["stopped_by"] = error_type_of(stop)
                break
        if stop is not None:
            _telemetry(operation="albums", outcome="failed", error=f"{error_type_of(stop)}: {stop}")
            logger.warning("ingest parked", extra={"reason": error_type_of(stop), "retry_after": summary["retry_after"]})
            break
    latency_ms = (time.monotonic() - started) * 1000
    if summary["claimed"] and not summary["stopped_by"]:
        _telemetry(operation="albums", outcome="succeeded", latency_ms=latency_ms)
    if summary["tracks_created"]:
        transaction.on_commit(lambda: _queue_audio_features(reason="new tracks"))
    counter_inc("ingest_tracks_created_total", summary["tracks_created"])
    logger.info("ingest run finished", extra={k: v for k, v in summary.items() if v not in (None, "")})
    return summary


def _dead_letter_exhausted(*, sources: list[AlbumSource], claim_at: datetime, summary: dict[str, Any]) -> list[AlbumSource]:
    """A source whose workers kept dying is dead-lettered instead of killing one more."""
    keep: list[AlbumSource] = []
    for source in sources:
        if source.attempts < settings.INGEST_MAX_ATTEMPTS:
            keep.append(source)
            continue
        with transaction.atomic():
            changed = AlbumSource.objects.filter(pk=source.pk, status=AlbumSource.Status.PROCESSING, claimed_at=claim_at).update(
                status=AlbumSource.Status.FAILED,
                finished_at=timezone.now(),
                last_error=f"gave up after {source.attempts} attempts; dead-lettered. Last: worker lost mid-ingest",
            )
            if changed:
                dead_letter_record(
                    source_service="ingest",
                    operation=OP_INGEST_ALBUM,
                    error_type="worker_lost",
                    error_message="the source stayed in processing past INGEST_CLAIM_STALE_MINUTES",
                    payload={"album_source_id": source.pk, "spotify_album_id": source.spotify_album_id},
                    retry_count=source.attempts,
                )
        summary["dead_lettered"] += changed
    return keep


def _queue_audio_features(*, reason: str) -> None:
    from ingest.tasks import fetch_audio_features

    correlation_id = log_context.get().get("correlation_id", "")
    fetch_audio_features.apply_async(
        headers={"trigger": "chain", "triggered_by": f"ingest: {reason}", "correlation_id": correlation_id}
    )


def _queue_ingest(*, reason: str) -> None:
    from ingest.tasks import ingest_albums_from_sources as ingest_task

    correlation_id = log_context.get().get("correlation_id", "")
    ingest_task.apply_async(headers={"trigger": "chain", "triggered_by": f"ingest: {reason}", "correlation_id": correlation_id})


# --- Audio features ------------------------------------------------------------------------


def _features_allowed(app: SpotifyApp) -> bool:
    return app.can("audio_features") or not get_redis().exists(_features_denied_key(app))


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
    from opsconsole.locks import LockBusy, redis_lock

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
    disabled = connectors_disabled(AUDIO_FEATURES_CONNECTORS)
    if disabled:
        return _skip_disabled(summary=summary, disabled=disabled, operation="audio_features")
    batch_size = max(1, min(batch_size or connector_setting("spotify.audio_features").batch_size, AUDIO_FEATURES_MAX))
    app = catalog_app()
    if not _features_allowed(app):
        summary["skipped"] = "audio features are refused to this app (403); recheck later"
        return summary
    try:
        with redis_lock("ingest:audio-features", ttl_seconds=settings.CELERY_TASK_TIME_LIMIT):
            if client is None:
                client = _catalog_client(app)
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
            _capability_learned(app=app, capability="audio_features", allowed=False)
            # Stop asking; one probe after the recheck interval (the app may have been upgraded).
            get_redis().set(_features_denied_key(app), "1", ex=settings.AUDIO_FEATURES_RECHECK_HOURS * 3600)
            summary["skipped"] = f"audio features refused to this app: {exc}"
            _telemetry(operation="audio_features", outcome="skipped", error=f"forbidden: {exc}")
            return
        except (SpotifyRateLimited, CircuitOpen) as exc:
            summary["retry_after"] = _retry_delay(exc=exc, attempts=1)
            summary["skipped"] = error_type_of(exc)
            _telemetry(operation="audio_features", outcome="failed", error=f"{error_type_of(exc)}: {exc}")
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
            _telemetry(operation="audio_features", outcome="failed", error=f"{error_type_of(exc)}: {exc}")
            return
        summary["calls"] += 1
        summary["requested"] += len(ids)
        if app.capabilities.get("audio_features") is False:
            _capability_learned(app=app, capability="audio_features", allowed=True)
        _features_store(batch=batch, answer=answer, summary=summary)
        _telemetry(operation="audio_features", outcome="succeeded", latency_ms=(time.monotonic() - started) * 1000)


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


# --- Dead letters ----------------------------------------------------------------------------


def _fingerprint(*, source_service: str, operation: str, payload: dict[str, Any]) -> str:
    text = json.dumps({"s": source_service, "o": operation, "p": payload}, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def dead_letter_record(
    *,
    source_service: str,
    operation: str,
    error_type: str,
    error_message: str,
    payload: dict[str, Any],
    retry_count: int = 0,
    correlation_id: str = "",
) -> DeadLetter:
    """Record an operation that gave up. The same operation and payload while still pending is
    one row whose `occurrences` grows; once replayed or purged, a new failure is a new row."""
    now = timezone.now()
    fingerprint = _fingerprint(source_service=source_service, operation=operation, payload=payload)
    context = log_context.get()
    correlation_id = (correlation_id or context.get("correlation_id") or context.get("request_id") or "")[:64]
    counter_inc("dead_letters_total", source_service=source_service, error_type=error_type)
    for _ in range(3):
        with transaction.atomic():
            current = (
                DeadLetter.objects.select_for_update().filter(fingerprint=fingerprint, status=DeadLetter.Status.PENDING).first()
            )
            if current is not None:
                current.occurrences += 1
                current.last_seen = now
                current.error_type = error_type[:100]
                current.error_message = error_message[:10000]
                current.retry_count = max(current.retry_count, retry_count)
                current.correlation_id = correlation_id or current.correlation_id
                current.save(
                    update_fields=["occurrences", "last_seen", "error_type", "error_message", "retry_count", "correlation_id"]
                )
                return current
            try:
                with transaction.atomic():
                    return DeadLetter.objects.create(
                        source_service=source_service[:100],
                        operation=operation[:100],
                        error_type=error_type[:100],
                        error_message=error_message[:10000],
                        payload=payload,
                        fingerprint=fingerprint,
                        correlation_id=correlation_id,
                        retry_count=retry_count,
                        first_seen=now,
                        last_seen=now,
                    )
            except IntegrityError:
                # Another worker inserted the same pending letter first: count on its row.
                continue
    raise RuntimeError("dead letter could not be recorded after 3 tries")


class ReplayError(Exception):
    """A dead letter that cannot be replayed as it stands (its subject is gone, bad payload)."""


ReplayHandler = Callable[[DeadLetter], Callable[[], None] | None]
_REPLAY_HANDLERS: dict[str, ReplayHandler] = {}


def dead_letter_replayer_register(operation: str, handler: ReplayHandler) -> None:
    """Other apps register how their operations are replayed. A handler puts the work back
    (in the current transaction) and may return a callable to run once after commit."""
    _REPLAY_HANDLERS[operation] = handler


def _replay_ingest_album(letter: DeadLetter) -> Callable[[], None]:
    try:
        source_id = int(letter.payload["album_source_id"])
    except (KeyError, TypeError, ValueError) as exc:
        raise ReplayError(f"payload has no album_source_id: {exc}") from exc
    source = AlbumSource.objects.select_for_update().filter(pk=source_id).first()
    if source is None:
        raise ReplayError(f"album source {source_id} no longer exists")
    if source.status == AlbumSource.Status.FAILED:
        AlbumSource.objects.filter(pk=source.pk).update(
            status=AlbumSource.Status.QUEUED, attempts=0, not_before=None, claimed_at=None, finished_at=None
        )
    # queued/processing/done: it is already back in (or through) the pipeline; nothing to redo.
    return lambda: _queue_ingest(reason="dead letters replayed")


def _replay_audio_features(letter: DeadLetter) -> Callable[[], None]:
    return lambda: _queue_audio_features(reason="dead letters replayed")


dead_letter_replayer_register(OP_INGEST_ALBUM, _replay_ingest_album)
dead_letter_replayer_register(OP_AUDIO_FEATURES, _replay_audio_features)


def dead_letters_replay(*, batch_size: int = 100, actor: str, ids: Sequence[int] | None = None) -> dict[str, Any]:
    """Replay the oldest pending dead letters (or the given ones): `{replayed_count,
    failed_count, errors}`. Idempotent: a replayed letter is no longer pending, so a second
    call does not replay it again; follow-up jobs are queued once, after commit."""
    replayed, failed = 0, 0
    errors: list[dict[str, Any]] = []
    after_commit: dict[str, Callable[[], None]] = {}
    now = timezone.now()
    with transaction.atomic():
        pending = DeadLetter.objects.filter(status=DeadLetter.Status.PENDING)
        if ids is not None:
            pending = pending.filter(pk__in=list(ids))
        letters = list(
            pending.filter(operation__in=list(_REPLAY_HANDLERS))
            .select_for_update(skip_locked=True)
            .order_by("first_seen", "pk")[:batch_size]
        )
        for letter in letters:
            try:
                with transaction.atomic():
                    follow_up = _REPLAY_HANDLERS[letter.operation](letter)
                    DeadLetter.objects.filter(pk=letter.pk).update(
                        status=DeadLetter.Status.REPLAYED, replayed_at=now, replayed_by=actor[:150]
                    )
            except ReplayError as exc:
                failed += 1
                errors.append({"id": letter.pk, "operation": letter.operation, "error": str(exc)})
                continue
            replayed += 1
            if follow_up is not None:
                after_commit.setdefault(letter.operation, follow_up)
        # Letters no handler knows stay pending (and out of the way of the others): say so.
        unknown = pending.exclude(operation__in=list(_REPLAY_HANDLERS)).values_list("operation", flat=True).distinct()
        for operation in unknown:
            errors.append({"id": None, "operation": operation, "error": "no replay handler for this operation"})
        for follow_up in after_commit.values():
            transaction.on_commit(follow_up)
    if replayed:
        counter_inc("dead_letters_replayed_total", replayed)
    logger.info("dead letters replayed", extra={"replayed": replayed, "failed": failed, "actor": actor})
    return {"replayed_count": replayed, "failed_count": failed, "errors": errors}


def _start_of_day(day: date) -> datetime:
    return datetime.combine(day, dt_time.min, tzinfo=timezone.get_current_timezone())


def dead_letters_purge_before(*, before: date, actor: str = "") -> int:
    """Purge pending dead letters last seen before `before` (00:00 UTC). They stay as `purged`
    rows until retention deletes them, so the purge itself is auditable."""
    count = DeadLetter.objects.filter(status=DeadLetter.Status.PENDING, last_seen__lt=_start_of_day(before)).update(
        status=DeadLetter.Status.PURGED, replayed_by=actor[:150], replayed_at=timezone.now()
    )
    logger.info("dead letters purged", extra={"before": before.isoformat(), "count": count, "actor": actor})
    return count


def dead_letters_purge(*, ids: Sequence[int], actor: str = "") -> int:
    return DeadLetter.objects.filter(status=DeadLetter.Status.PENDING, pk__in=list(ids)).update(
        status=DeadLetter.Status.PURGED, replayed_by=actor[:150], replayed_at=timezone.now()
    )


# --- Circuit breakers -------------------------------------------------------------------------


def circuit_breakers_reset_all(*, actor: str = "") -> int:
    """Close every Spotify breaker (the runbook's reset-all after an outage is over)."""
    count = breaker_reset_all()
    logger.warning("circuit breakers reset", extra={"count": count, "actor": actor})
    return count


def circuit_breaker_reset(*, name: str, actor: str = "") -> None:
    breaker_reset(name)
    logger.warning("circuit breaker reset", extra={"breaker": name, "actor": actor})
