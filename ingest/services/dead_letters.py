"""Dead letters: recording operations that gave up, replaying them through the handlers their owners register, purging."""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable, Sequence
from datetime import date, datetime
from datetime import time as dt_time
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import Count, QuerySet
from django.utils import timezone

from audit.services import audit_record
from core.actors import is_operator
from core.counters import counter_inc
from core.logging import log_context
from ingest.models import DeadLetter
from spotify.previews import CallPlan

logger = logging.getLogger(__name__)


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
# Adds what replaying these letters (one operation's) would touch and the Spotify calls of the
# work it puts back to a dry run's plan; reads only.
ReplayPreview = Callable[[list[DeadLetter], CallPlan], None]
_REPLAY_HANDLERS: dict[str, ReplayHandler] = {}
_REPLAY_PREVIEWS: dict[str, ReplayPreview] = {}


def dead_letter_replayer_register(operation: str, handler: ReplayHandler, *, preview: ReplayPreview) -> None:
    """Other apps register how their operations are replayed. A handler puts the work back
    (in the current transaction) and may return a callable to run once after commit; `preview`
    counts, for a dry run, what the handler and the work it queues would do."""
    _REPLAY_HANDLERS[operation] = handler
    _REPLAY_PREVIEWS[operation] = preview


def _replay_pending(ids: Sequence[int] | None) -> QuerySet[DeadLetter]:
    pending = DeadLetter.objects.filter(status=DeadLetter.Status.PENDING)
    return pending if ids is None else pending.filter(pk__in=list(ids))


def _replay_batch(pending: QuerySet[DeadLetter], batch_size: int) -> QuerySet[DeadLetter]:
    """What a replay takes: the oldest pending letters an owner knows how to replay."""
    return pending.filter(operation__in=list(_REPLAY_HANDLERS)).order_by("first_seen", "pk")[:batch_size]


def _replay_unknown(pending: QuerySet[DeadLetter]) -> QuerySet[DeadLetter]:
    # Letters no handler knows stay pending (and out of the way of the others).
    return pending.exclude(operation__in=list(_REPLAY_HANDLERS))


def dead_letters_replay_preview(*, batch_size: int = 100, ids: Sequence[int] | None = None) -> dict[str, Any]:
    """What dead_letters_replay would do with the same arguments (spotify.previews.CallPlan's
    shape): the letters it takes, the ones it would fail or leave, and the Spotify calls of the
    work it puts back. Writes nothing, calls nothing."""
    pending = _replay_pending(ids)
    plan = CallPlan()
    by_operation: dict[str, list[DeadLetter]] = {}
    for letter in _replay_batch(pending, batch_size):
        by_operation.setdefault(letter.operation, []).append(letter)
    for operation, letters in by_operation.items():
        _REPLAY_PREVIEWS[operation](letters, plan)
    for row in _replay_unknown(pending).values("operation").annotate(n=Count("pk")).order_by("operation"):
        plan.skip(f"no replay handler for {row['operation']}", row["n"])
    return plan.as_dict()


def dead_letters_replay(*, batch_size: int = 100, actor: str, ids: Sequence[int] | None = None) -> dict[str, Any]:
    """Replay the oldest pending dead letters (or the given ones): `{replayed_count,
    failed_count, errors}`. Idempotent: a replayed letter is no longer pending, so a second
    call does not replay it again; follow-up jobs are queued once, after commit."""
    replayed, failed = 0, 0
    errors: list[dict[str, Any]] = []
    after_commit: dict[str, Callable[[], None]] = {}
    now = timezone.now()
    with transaction.atomic():
        pending = _replay_pending(ids)
        letters = list(_replay_batch(pending.select_for_update(skip_locked=True), batch_size))
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
        unknown = _replay_unknown(pending).values_list("operation", flat=True).distinct()
        for operation in unknown:
            errors.append({"id": None, "operation": operation, "error": "no replay handler for this operation"})
        for follow_up in after_commit.values():
            transaction.on_commit(follow_up)
    if replayed:
        counter_inc("dead_letters_replayed_total", replayed, best_effort=True)
    logger.info("dead letters replayed", extra={"replayed": replayed, "failed": failed, "actor": actor})
    if is_operator(actor):
        audit_record(
            actor=actor,
            action="dead_letters.replay",
            target_type="dead letter",
            target_id=",".join(map(str, list(ids)[:50])) if ids is not None else "",
            target_repr=f"{replayed} replayed, {failed} failed" + ("" if ids is not None else " (oldest pending)"),
            outcome="ok" if not failed else "failed",
            details={"replayed_count": replayed, "failed_count": failed, "batch_size": batch_size},
        )
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
    if is_operator(actor):
        audit_record(
            actor=actor,
            action="dead_letters.purge",
            target_type="dead letter",
            target_repr=f"{count} pending, last seen before {before.isoformat()}",
            details={"purged": count, "before": before.isoformat()},
        )
    return count


def dead_letters_purge(*, ids: Sequence[int], actor: str = "") -> int:
    count = DeadLetter.objects.filter(status=DeadLetter.Status.PENDING, pk__in=list(ids)).update(
        status=DeadLetter.Status.PURGED, replayed_by=actor[:150], replayed_at=timezone.now()
    )
    if is_operator(actor):
        audit_record(
            actor=actor,
            action="dead_letters.purge",
            target_type="dead letter",
            target_id=",".join(map(str, list(ids)[:50])),
            target_repr=f"{count} of {len(ids)} selected",
            details={"purged": count},
        )
    return count
