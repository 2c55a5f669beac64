"""Login lockouts in the audit trail: one row when a username or address gets locked out, one
when an operator clears a lockout (docs/runbooks/staff-access.md). The lockout itself is
django-axes' (core.lockout)."""

from __future__ import annotations

from typing import Any

from axes.handlers.proxy import AxesProxyHandler
from django.conf import settings
from django.db import transaction

from audit.services import audit_record
from core.actors import Door, actor_of


def lockout_audit(*, request: Any, username: str | None, ip_address: str | None) -> None:
    """The `user_locked_out` receiver. Axes sends it on every refused try during a lockout too;
    only the failure that reached the limit is the lockout."""
    failures = getattr(request, "axes_failures_since_start", None)
    if failures != settings.LOGIN_FAILURE_LIMIT:
        return
    door: Door = "api" if getattr(request, "path", "").startswith("/api/") else "admin"
    # Who was trying: the username typed (it may not exist), or for a token only the address.
    audit_record(
        actor=actor_of(username or ip_address or "unknown", door=door),
        action="login.locked_out",
        target_type="login",
        target_id=username or ip_address or "",
        target_repr=f"{username or '(API token)'} from {ip_address or 'unknown address'}",
        details={
            "username": username,
            "ip_address": ip_address,
            "failures": failures,
            "lockout_minutes": settings.LOGIN_LOCKOUT_MINUTES,
        },
    )


@transaction.atomic
def lockout_clear(*, actor: str, username: str = "", ip_address: str = "") -> int:
    """Forget the failures of `username`, of `ip_address`, or of both (either matching); the next
    login is judged afresh. Returns how many lockout records went; audited even when none did."""
    if not username and not ip_address:
        raise ValueError("name a username, an address, or both")
    if username and ip_address:
        count = AxesProxyHandler.reset_attempts(username=username, ip_address=ip_address, ip_or_username=True)
    else:
        count = AxesProxyHandler.reset_attempts(username=username or None, ip_address=ip_address or None)
    audit_record(
        actor=actor,
        action="login.lockout_clear",
        target_type="login",
        target_id=username or ip_address,
        target_repr=" / ".join(part for part in (username, ip_address) if part),
        details={"username": username, "ip_address": ip_address, "records": count},
    )
    return count
