"""`audit_record`: the one write of the audit trail."""

from __future__ import annotations

import logging
import re
from typing import Any

from django.db import models

from audit.models import AuditEvent
from core.logging import log_context

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
    """Record one operator action. `actor` comes from `core.actors` (its prefix is the door);
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


_ADMIN_VERBS = {1: "create", 2: "change", 3: "delete"}  # LogEntry's ADDITION, CHANGE, DELETION


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def audit_admin_log_entry(entry: Any) -> AuditEvent | None:
    """The audit row of one admin change form (add, change, delete), from the LogEntry Django
    writes for it: every ModelAdmin of every app, django-celery-beat's schedules included.

    One row per action: when the admin's own code already recorded an action on this target in
    this request (a custom `save_model`, an action calling an audited service), nothing more.
    """
    from core.actors import actor_of

    model = entry.content_type.model_class() if entry.content_type_id else None
    if model is None or model is AuditEvent:
        return None
    target_type = str(model._meta.verbose_name)
    target_id = str(entry.object_id or "")
    request_id = (log_context.get().get("request_id") or "")[:64]
    if request_id and AuditEvent.objects.filter(request_id=request_id, target_type=target_type, target_id=target_id).exists():
        return None
    target_repr = entry.object_repr
    details: dict[str, Any] = {}
    changes = entry.get_change_message()
    if changes:
        details["change"] = changes
    return audit_record(
        actor=actor_of(entry.user, door="admin"),
        action=f"{_snake(model.__name__)}.{_ADMIN_VERBS.get(entry.action_flag, 'change')}",
        target_type=target_type,
        target_id=target_id,
        target_repr=target_repr,
        details=details,
    )
