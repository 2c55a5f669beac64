"""The audit trail's admin: a read-only list. Rows are written by `audit.services.audit_record`
from every door; here nobody, superusers included, can add, change or delete one."""

from __future__ import annotations

from django.contrib import admin
from django.http import HttpRequest

from audit.models import AuditEvent
from core.admin_utils import EstimatedCountPaginator


@admin.register(AuditEvent)
class AuditEventAdmin(admin.ModelAdmin):
    list_display = ["at", "actor", "door", "action", "target_type", "target_repr", "outcome", "request_id"]
    list_filter = ["actor", "action", "target_type", "door", "outcome", ("at", admin.DateFieldListFilter)]
    search_fields = ["=actor", "action", "=target_id", "target_repr", "=request_id"]
    search_help_text = "Actor (admin:olive), action, target id or name, request id."
    ordering = ["-at", "-id"]
    show_full_result_count = False
    paginator = EstimatedCountPaginator
    readonly_fields = [f.name for f in AuditEvent._meta.fields]
    actions = None

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: AuditEvent | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: AuditEvent | None = None) -> bool:
        return False
