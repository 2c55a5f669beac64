"""Ingesting albums: claiming sources, fetching from Spotify, upserting the catalog, queueing follow-ups."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.db import transaction
from django.db.models import Case, F, Q, Value, When
from django.utils import timezone

from accounts.models import SpotifyApp
from core.counters import counter_inc
from core.redis import get_redis, key
from core.upsert import upsert_rows
from ingest.models import Album, AlbumSource, Artist, DeadLetter, Track
from ingest.quality import quality_scored_sql, tracks_quality_update
from ingest.services.common import (
    OP_INGEST_ALBUM,
    app_health_record,
    catalog_app,
    catalog_app_for_preview,
    catalog_client,
    chunks,
    error_type_of,
    job_telemetry,
    persist_learned,
)
from ingest.services.dead_letters import ReplayError, dead_letter_record, dead_letter_replayer_register
from jobs.models import JobRun
from jobs.services import job_enqueue, job_subject_add
from spotify.connectors import INGEST_CONNECTORS, connector_setting, connectors_skip
from spotify.errors import (
    CircuitOpen,
    SpotifyAppRefused,
    SpotifyAuthError,
    SpotifyBadRequest,
    SpotifyError,
    SpotifyForbidden,
    SpotifyNotFound,
    SpotifyRateLimited,
    SpotifyServerError,
)
from spotify.previews import CallPlan
from spotify.retry import error_wait_seconds

if TYPE_CHECKING:
    from spotify.client import SpotifyClient

logger = logging.getLogger(__name__)

SEVERAL_ALBUMS_MAX = 20
ALBUM_TRACKS_PAGE = 50


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
        except SpotifyAppRefused as exc:
            # 403 on every call: the app is refused (its owner lost Premium, say), not missing a capability.
            app_health_record(app=app, degraded=True, reason=str(exc))
            outcome.transient.extend((s, exc) for s in sources)
            outcome.stop = exc
            return outcome
        except SpotifyForbidden:
            # A 403 on one of the fallback single-album calls (the client learns "no several
            # albums" only from that endpoint's own 403): single calls isolate it.
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
    if outcome.fetched and app.health == "degraded":
        app_health_record(app=app, degraded=False)  # Spotify serves the app again
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
    One statement per table with a column per array (core.upsert: bench ingest.cost_per_track).
    """
    now = timezone.now()
    artists: dict[str, str] = {}
    for item in fetched:
        for entity in [item.album, *item.tracks]:
            artist = _artist_of(entity)
            if artist:
                artists[artist["id"]] = (artist.get("name") or "")[:300]
    artist_pk: dict[str, int] = dict(
        (sid, pk)
        for pk, sid in upsert_rows(
            Artist,
            columns=["spotify_id", "name"],
            rows=[(sid, artists[sid]) for sid in sorted(artists)],
            unique="spotify_id",
            update=["name", "updated_at"],
            constants={"created_at": now, "updated_at": now},
            returning=["id", "spotify_id"],
        )
    )

    album_rows: dict[str, tuple[Any, ...]] = {}
    for item in fetched:
        album = item.album
        artist = _artist_of(album)
        album_rows[album["id"]] = (
            album["id"],
            (album.get("name") or "")[:300],
            (album.get("label") or "")[:300],
            (album.get("release_date") or "")[:10],
            int(album.get("total_tracks") or len(item.tracks)),
            artist_pk.get(artist["id"]) if artist else None,
        )
    albums_upserted = upsert_rows(
        Album,
        columns=["spotify_id", "name", "label", "release_date", "total_tracks", "artist_id"],
        rows=[album_rows[sid] for sid in sorted(album_rows)],
        unique="spotify_id",
        update=["name", "label", "release_date", "total_tracks", "artist_id", "updated_at"],
        constants={"created_at": now, "updated_at": now},
        returning=["id", "spotify_id", "(xmax = 0)"],
    )
    album_pk = {sid: pk for pk, sid, _ in albums_upserted}
    albums_existing = [pk for pk, _, new in albums_upserted if not new]

    track_rows: dict[str, tuple[Any, ...]] = {}
    for item in fetched:
        album_artist = _artist_of(item.album)
        album_id = album_pk[item.album["id"]]
        for track in item.tracks:
            track_id = track.get("id")
            if not track_id:
                continue
            artist = _artist_of(track) or album_artist
            if artist is None:
                continue
            track_rows[track_id] = (
                track_id,
                (track.get("name") or "")[:300],
                album_id,
                artist_pk[artist["id"]],
                ((track.get("external_ids") or {}).get("isrc") or "")[:20],
                int(track.get("duration_ms") or 0),
                int(track.get("disc_number") or 1),
                int(track.get("track_number") or 1),
                bool(track.get("explicit")),
            )
    track_columns = [
        "spotify_id",
        "name",
        "album_id",
        "artist_id",
        "isrc",
        "duration_ms",
        "disc_number",
        "track_number",
        "explicit",
    ]
    # New tracks are scored in the INSERT (a second UPDATE rewrote every new row and all its
    # indexes, most of ingest's database time; BENCHMARKS.md). Tracks that existed keep their
    # features and score here and are rescored below, as are the tracks of albums that existed.
    upserted = upsert_rows(
        Track,
        columns=track_columns,
        rows=[track_rows[sid] for sid in sorted(track_rows)],
        unique="spotify_id",
        update=[*track_columns[1:], "updated_at"],
        constants={"audio_features": None, "features_unavailable_until": None, "created_at": now, "updated_at": now},
        derive=(quality_scored_sql, ["quality_issues", "quality_score", "quality_tier"]),
        returning=["id", "(xmax = 0)"],
    )
    updated_tracks = [pk for pk, new in upserted if not new]
    if updated_tracks or albums_existing:
        tracks_quality_update(track_ids=updated_tracks, album_ids=albums_existing)
    return album_pk, len(upserted) - len(updated_tracks), len(updated_tracks)


def retry_delay(*, exc: SpotifyError, attempts: int) -> float:
    if isinstance(exc, _NotTried):
        exc = exc.cause
    return error_wait_seconds(exc, attempts=attempts, base=float(settings.INGEST_RETRY_BASE_SECONDS), ceiling=3600)


def _apply_outcome(*, outcome: _ChunkOutcome, claim_at: datetime, summary: dict[str, Any]) -> None:
    now = timezone.now()
    mine = Q(status=AlbumSource.Status.PROCESSING, claimed_at=claim_at)
    if outcome.fetched:
        with transaction.atomic():
            album_pk, created, updated = _catalog_upsert(outcome.fetched)
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
                not_before=now + timedelta(seconds=retry_delay(exc=exc, attempts=attempts)),
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


def album_claims_release_of_task(*, task_id: str, args: list[Any], kwargs: dict[str, Any]) -> int:
    """Revoke cleanup of `ingest_albums_from_sources` (jobs.control): what a
    terminated run claimed goes back to the queue at once instead of waiting to go stale."""
    return _claims_of_dead_run_release(owner=task_id)


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
    if skipped := connectors_skip(INGEST_CONNECTORS, work="albums"):
        job_telemetry(operation="albums", outcome="skipped")
        return {**summary, **skipped}
    batch_size = max(1, batch_size or connector_setting("spotify.albums").batch_size)
    app = catalog_app()
    started = time.monotonic()
    if claim_owner:
        summary["taken_back"] = _claims_of_dead_run_release(owner=claim_owner)
    if client is None:
        client = catalog_client(app)
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
        job_subject_add(album_sources=[source.pk for source in sources])
        summary["claimed"] += len(sources)
        sources = _dead_letter_exhausted(sources=sources, claim_at=claim_at, summary=summary)
        stop: SpotifyError | None = None
        for position, chunk in enumerate(chunks(sources, SEVERAL_ALBUMS_MAX)):
            several = app.can("several_albums")
            outcome = _fetch_chunk(client=client, app=app, sources=chunk, several=several)
            persist_learned(client=client, app=app)
            _apply_outcome(outcome=outcome, claim_at=claim_at, summary=summary)
            if outcome.stop is not None:
                stop = outcome.stop
                rest = sources[(position + 1) * SEVERAL_ALBUMS_MAX :]
                delay = retry_delay(exc=stop, attempts=1)
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
            job_telemetry(operation="albums", outcome="failed", error=f"{error_type_of(stop)}: {stop}")
            logger.warning("ingest parked", extra={"reason": error_type_of(stop), "retry_after": summary["retry_after"]})
            break
    latency_ms = (time.monotonic() - started) * 1000
    if summary["claimed"] and not summary["stopped_by"]:
        job_telemetry(operation="albums", outcome="succeeded", latency_ms=latency_ms)
    if summary["tracks_created"]:
        transaction.on_commit(lambda: queue_audio_features(reason="new tracks"))
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


def queue_audio_features(*, reason: str) -> None:
    job_enqueue("fetch_audio_features", trigger=JobRun.Trigger.CHAIN, triggered_by=f"ingest: {reason}")


def queue_ingest(*, reason: str) -> None:
    job_enqueue("ingest_albums_from_sources", trigger=JobRun.Trigger.CHAIN, triggered_by=f"ingest: {reason}")


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
    return lambda: queue_ingest(reason="dead letters replayed")


def _album_fetch_calls(app: SpotifyApp, count: int) -> tuple[int, int]:
    """(fewest, most) calls the ingest run makes to fetch `count` claimed albums, as its claim
    batches and _fetch_chunk make them: ≤20 per several-albums call, or one Get Album each on an
    app known to lack it. An app not known either way may be refused on its first try: that call,
    then one Get Album each."""
    batch_size = max(1, connector_setting("spotify.albums").batch_size)
    claims = [len(claim) for claim in chunks(range(count), batch_size)]
    several = sum(len(list(chunks(range(claim), SEVERAL_ALBUMS_MAX))) for claim in claims)
    known = app.capability_now("several_albums")
    if known is False:
        return count, count
    return several, several if known else 1 + count


def _preview_ingest_album(letters: list[DeadLetter], plan: CallPlan) -> None:
    """A replay puts each failed source back in the queue (_replay_ingest_album); the next ingest
    run fetches it, with more track pages for an album over 50 tracks."""
    app = catalog_app_for_preview()
    app_key = str(app.pk)
    source_ids: dict[int, int] = {}
    for letter in letters:
        try:
            source_ids[letter.pk] = int(letter.payload["album_source_id"])
        except (KeyError, TypeError, ValueError):
            plan.skip("would fail: payload has no album_source_id")
    sources = AlbumSource.objects.in_bulk(list(source_ids.values()))
    again = []
    for letter_pk, source_id in source_ids.items():
        source = sources.get(source_id)
        if source is None:
            plan.skip("would fail: its album source no longer exists")
            continue
        plan.add(str(letter_pk), app_key=app_key, calls_min=0, calls_max=0)
        if source.status == AlbumSource.Status.FAILED:
            again.append(source.spotify_album_id)
    if not again:
        return
    fewest, most = _album_fetch_calls(app, len(again))
    known = dict(Album.objects.filter(spotify_id__in=again).values_list("spotify_id", "total_tracks"))
    pages = sum(len(list(chunks(range(ALBUM_TRACKS_PAGE, total), ALBUM_TRACKS_PAGE))) for total in known.values())
    plan.calls(app_key=app_key, calls_min=fewest + pages, calls_max=most + pages)
    if unknown := len(set(again) - set(known)):
        plan.notes.append(
            f"{unknown} albums not in the catalog yet: one more call per {ALBUM_TRACKS_PAGE} tracks past the first "
            f"{ALBUM_TRACKS_PAGE} of each, not counted (their size is known once fetched)."
        )
    if disabled := connectors_skip(INGEST_CONNECTORS, work="albums"):
        plan.notes.append("Ingest is switched off (" + ", ".join(disabled["disabled_connectors"]) + "): the sources would wait.")
    plan.notes.append("New tracks then get their audio features (fetch_audio_features, its own run).")


dead_letter_replayer_register(OP_INGEST_ALBUM, _replay_ingest_album, preview=_preview_ingest_album)
