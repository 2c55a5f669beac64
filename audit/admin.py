"""The audit trail's admin: a read-only list. Rows are written by `audit.services.audit_record`
from every door; here nobody, superusers included, can add, change or delete one."""

from __future__ import annotations

from axes.admin import AccessAttemptAdmin, AccessFailureLogAdmin
from axes.models import AccessAttempt, AccessFailureLog
from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.translation import ngettext

from audit.lockouts import lockout_clear
from audit.models import AuditEvent
from core.actors import request_actor
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


@admin.register(AccessAttempt)
class LockoutAdmin(AccessAttemptAdmin):
    """django-axes' failure records (Users and access → Login lockouts). A row at the limit is a
    locked-out username or address; clearing goes through `lockout_clear`, so it is audited."""

    actions = ["clear_lockout"]
    list_display = ["attempt_time", "username", "ip_address", "failures_since_start", "status", "path_info", "user_agent"]
    search_help_text = "Username, address, user agent or path."

    def has_delete_permission(self, request: HttpRequest, obj: AccessAttempt | None = None) -> bool:
        return False

    @admin.action(description="Clear the lockout of the selected usernames and addresses", permissions=["change"])
    def clear_lockout(self, request: HttpRequest, queryset: QuerySet[AccessAttempt]) -> None:
        actor = request_actor(request, door="admin")
        cleared = 0
        for attempt in list(queryset):
            cleared += lockout_clear(actor=actor, username=attempt.username or "", ip_address=attempt.ip_address or "")
        self.message_user(request, ngettext("Cleared %d lockout record.", "Cleared %d lockout records.", cleared) % cleared)


@admin.register(AccessFailureLog)
class LoginFailureAdmin(AccessFailureLogAdmin):
    """Every failed sign-in (admin password or API token), kept for the record."""

    show_full_result_count = False
    paginator = EstimatedCountPaginator

    def has_change_permission(self, request: HttpRequest, obj: AccessFailureLog | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: AccessFailureLog | None = None) -> bool:
        return False


# Staff users: two-factor column and reset (kept apart from the lockout admins above).
from audit import admin_users  # noqa: E402, F401
