from __future__ import annotations

from typing import Any

from django.apps import AppConfig


class AuditConfig(AppConfig):
    name = "audit"
    label = "audit"
    verbose_name = "Audit trail"

    def ready(self) -> None:
        from django.contrib.admin.models import LogEntry
        from django.db.models.signals import post_save

        from audit.services import audit_admin_log_entry

        def mirror(sender: type, instance: LogEntry, created: bool, **_: object) -> None:
            if created:
                audit_admin_log_entry(instance)

        post_save.connect(mirror, sender=LogEntry, dispatch_uid="audit-admin-log-entry", weak=False)

        from axes.signals import user_locked_out

        from audit.lockouts import lockout_audit

        def locked_out(
            sender: Any, request: Any = None, username: str | None = None, ip_address: str | None = None, **_: object
        ) -> None:
            lockout_audit(request=request, username=username, ip_address=ip_address)

        user_locked_out.connect(locked_out, dispatch_uid="audit-login-locked-out", weak=False)

        from django.contrib.auth.signals import user_logged_in

        from audit.sso import breakglass_login_audit

        def logged_in(sender: Any, user: Any = None, **_: object) -> None:
            breakglass_login_audit(user=user)

        user_logged_in.connect(logged_in, dispatch_uid="audit-login-breakglass", weak=False)
        from audit import twofactor as twofactor_audit
        from core.stepup import step_up_failed, step_up_passed
        from core.twofactor import second_factor_enrolled, second_factor_failed, second_factor_verified

        for signal, receiver, uid in (
            (second_factor_verified, twofactor_audit.second_factor_verified_audit, "audit-second-factor-verified"),
            (second_factor_failed, twofactor_audit.second_factor_failed_audit, "audit-second-factor-failed"),
            (second_factor_enrolled, twofactor_audit.second_factor_enrolled_audit, "audit-second-factor-enrolled"),
            (step_up_passed, twofactor_audit.step_up_audit, "audit-step-up-passed"),
            (step_up_failed, twofactor_audit.step_up_audit, "audit-step-up-failed"),
        ):
            signal.connect(_keywords(receiver), dispatch_uid=uid, weak=False)


def _keywords(receiver: Any) -> Any:
    """A signal receiver taking its arguments by keyword (`signal` itself dropped)."""

    def receive(sender: Any, signal: Any = None, **kwargs: Any) -> None:
        receiver(sender=sender, **kwargs)

    return receive
