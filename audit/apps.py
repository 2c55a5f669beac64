from __future__ import annotations

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
