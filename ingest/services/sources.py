"""Submitting album sources: album URLs, URIs and ids into the ingest queue."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Literal

from django.db import connection, transaction

from audit.services import audit_record
from core.actors import is_operator
from core.counters import counter_inc
from ingest.models import AlbumSource
from ingest.parsing import album_id_parse
from ingest.services.common import chunks

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
    for chunk in chunks(sorted(wanted), 1000):
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
        counter_inc("ingest_sources_submitted_total", accepted, best_effort=True)
    if is_operator(submitted_by):
        counts = Counter(r.status for r in results)
        audit_record(
            actor=submitted_by,
            action="album_sources.submit",
            target_type="album source",
            target_repr=f"{len(results)} album links",
            details={"accepted": counts["accepted"], "duplicate": counts["duplicate"], "invalid": counts["invalid"]},
        )
    return results


@transaction.atomic
def album_sources_requeue(*, source_ids: Iterable[int], actor: str = "") -> int:
    """Put failed sources back in the queue with a fresh attempt budget (audited for operators)."""
    ids = list(source_ids)
    count = AlbumSource.objects.filter(pk__in=ids, status=AlbumSource.Status.FAILED).update(
        status=AlbumSource.Status.QUEUED, attempts=0, not_before=None, claimed_at=None, finished_at=None
    )
    if is_operator(actor):
        audit_record(
            actor=actor,
            action="album_sources.requeue",
            target_type="album source",
            target_id=",".join(map(str, ids[:50])),
            target_repr=f"{count} of {len(ids)} album sources",
            details={"requeued": count, "selected": len(ids)},
        )
    return count
