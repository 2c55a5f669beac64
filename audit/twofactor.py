"""Two-factor and step-up in the audit trail, and the reset of a user's devices
(docs/runbooks/staff-access.md). The mechanism is core.twofactor / core.stepup; they send signals,
the receivers here write one row each. No code, secret or password is ever in a row."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django_otp.plugins.otp_static.models import StaticDevice
from django_otp.plugins.otp_totp.models import TOTPDevice

from audit.models import AuditEvent
from audit.services import audit_record
from core.actors import actor_of

# Where a code was checked → the row's action. A step-up's code is in its own row (auth.step_up).
_CODE_ACTIONS = {"login": "login.second_factor", "enroll": "twofactor.enroll"}


def second_factor_verified_audit(*, sender: str, request: Any, user: Any, kind: str) -> None:
    if sender in _CODE_ACTIONS:
        audit_record(actor=actor_of(user, door="admin"), action=_CODE_ACTIONS[sender], target=user, details={"kind": kind})


def second_factor_failed_audit(*, sender: str, request: Any, user: Any, reason: str) -> None:
    if sender in _CODE_ACTIONS:
        audit_record(
            actor=actor_of(user, door="admin"),
            action=_CODE_ACTIONS[sender],
            target=user,
            outcome=AuditEvent.Outcome.REFUSED,
            details={"reason": reason},
        )


def second_factor_enrolled_audit(*, sender: str, request: Any, user: Any, backup_codes: int) -> None:
    audit_record(
        actor=actor_of(user, door="admin"),
        action="twofactor.enroll",
        target=user,
        details={"device": "totp", "backup_codes": backup_codes},
    )


def step_up_audit(*, sender: str, request: Any, user: Any, reason: str = "") -> None:
    audit_record(
        actor=actor_of(user, door="admin"),
        action="auth.step_up",
        target=user,
        outcome=AuditEvent.Outcome.REFUSED if reason else AuditEvent.Outcome.OK,
        details={"for_action": sender, **({"reason": reason} if reason else {})},
    )


@transaction.atomic
def twofactor_reset(*, user: Any, actor: str) -> int:
    """Remove every two-factor device of `user` (authenticator and backup codes): their sessions
    lose their second factor at once, and the next sign-in enrols afresh. Returns the devices
    removed; audited even when there were none."""
    removed = 0
    for model in (TOTPDevice, StaticDevice):
        devices = model.objects.filter(user=user)
        removed += devices.count()
        devices.delete()
    audit_record(actor=actor, action="twofactor.reset", target=user, details={"devices_removed": removed})
    return removed
