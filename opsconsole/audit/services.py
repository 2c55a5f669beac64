"""`audit_record`: the one write of the audit trail."""

from __future__ import annotations

import logging
from typing import Any

from django.db import models

from opsconsole.audit.models import AuditEvent
from opsconsole.logging import log_context

logger = logging.getLogger(__name__)

_DOORS = set(AuditEvent.Door.values)


def _door_of(actor: str) -> str:
    door = actor.split(":", 1)[0]
    return door if door in _DOORS else AuditEvent.Door.SYSTEM


def audit_record(
    *,
    actor: str,
    action: str,
    target: models.Model | None = None,
    target_type: str = "",
    target_id: str = "",
    target_repr: str = "",
    outcome: str = AuditEvent.Outcome.OK,
    details: dict[str, Any] | None = None,
) -> AuditEvent:
    """Record one operator action. `actor` comes from `opsconsole.actors` (its prefix is the door);
    a model `target` names itself (verbose name, pk, str()) unless the caller says otherwise."""
    if target is not None:
        target_type = target_type or str(target._meta.verbose_name)
        target_id = target_id or str(target.pk)
        target_repr = target_repr or str(target)
    context = log_context.get()
    event = AuditEvent.objects.create(
        actor=actor[:150],
        door=_door_of(actor),
        action=action,
        target_type=target_type[:100],
        target_id=target_id[:255],
        target_repr=target_repr[:300],
        outcome=outcome,
        details=details or {},
        request_id=(context.get("request_id") or context.get("correlation_id") or "")[:64],
    )
    logger.info(
        "audit",
        extra={"actor": event.actor, "action": action, "target": f"{event.target_type}:{event.target_id}", "outcome": outcome},
    )
    return event
