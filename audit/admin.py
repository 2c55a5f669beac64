"""The audit trail's admin: a read-only list. Rows are written by `audit.services.audit_record`
from every door; here nobody, superusers included, can add, change or delete one.

Also staff access, whose operations are audited services of this app: login lockouts
(django-axes' records, audit.lockouts) and API tokens (core.models.ApiToken, audit.api_tokens)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from axes.admin import AccessAttemptAdmin, AccessFailureLogAdmin
from axes.models import AccessAttempt, AccessFailureLog
from django.contrib import admin, messages
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.db.models import Q, QuerySet
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.utils import timezone
from django.utils.translation import ngettext

from audit.api_tokens import api_tokens_revoke
from audit.lockouts import lockout_clear
from audit.models import AuditEvent
from core.actors import request_actor
from core.admin_utils import EstimatedCountPaginator
from core.models import ApiToken
from core.stepup import destructive


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


# An on-call question: whose automation stops working within the next two weeks?
EXPIRING_DAYS = 14


class ApiTokenStatusFilter(admin.SimpleListFilter):
    title = "status"
    parameter_name = "status"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [
            ("active", "Active"),
            ("expiring", f"Active, expiring within {EXPIRING_DAYS} days"),
            ("expired", "Expired"),
            ("revoked", "Revoked"),
            ("never", "Active, never expires"),
        ]

    def queryset(self, request: HttpRequest, queryset: QuerySet[ApiToken]) -> QuerySet[ApiToken]:
        now = timezone.now()
        live = queryset.filter(revoked_at__isnull=True)
        if self.value() == "active":
            return live.filter(Q(expires_at__isnull=True) | Q(expires_at__gt=now))
        if self.value() == "expiring":
            return live.filter(expires_at__gt=now, expires_at__lte=now + timedelta(days=EXPIRING_DAYS))
        if self.value() == "expired":
            return live.filter(expires_at__lte=now)
        if self.value() == "revoked":
            return queryset.filter(revoked_at__isnull=False)
        if self.value() == "never":
            return live.filter(expires_at__isnull=True)
        return queryset


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    """API tokens (Users and access → API tokens), superusers only. Created by
    `manage.py create_api_token`, which prints the key once; here a token shows only the start
    of its key, never the key or its digest. Revoking goes through `api_tokens_revoke`, audited;
    rows are never deleted, so a revoked token's use still answers 401 with the reason."""

    list_display = ["prefix_shown", "user", "name", "scope", "status_shown", "created_at", "expires_at", "last_used_at"]
    list_filter = [ApiTokenStatusFilter, "scope"]
    list_select_related = ["user"]
    search_fields = ["=user__username", "name", "prefix"]
    search_help_text = "Username (exact), token name, or the start of its key."
    # The digest stays off the page too: the prefix is what names a token to people.
    fields = readonly_fields = ("prefix", "user", "name", "scope", "created_at", "expires_at", "last_used_at", "revoked_at")
    actions = ["revoke"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # the key must reach one person once: `manage.py create_api_token`

    def has_delete_permission(self, request: HttpRequest, obj: ApiToken | None = None) -> bool:
        return False

    def change_view(
        self, request: HttpRequest, object_id: str, form_url: str = "", extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        # Nothing on a token is edited here: no Save buttons (revoking is the list's action).
        hidden = {"show_save": False, "show_save_and_continue": False, "show_save_and_add_another": False}
        return super().change_view(request, object_id, form_url, {**(extra_context or {}), **hidden})

    @admin.display(description="key starts", ordering="prefix")
    def prefix_shown(self, token: ApiToken) -> str:
        return f"{token.prefix}…"

    @admin.display(description="status")
    def status_shown(self, token: ApiToken) -> str:
        return token.status

    @admin.action(description="Revoke the selected API tokens", permissions=["change"])
    @destructive
    def revoke(self, request: HttpRequest, queryset: QuerySet[ApiToken]) -> HttpResponse | None:
        tokens = list(queryset.filter(revoked_at__isnull=True).select_related("user"))
        if request.POST.get("post") != "yes":
            context = {
                **self.admin_site.each_context(request),
                "title": "Revoke API tokens?",
                "opts": self.model._meta,
                "tokens": tokens,
                "already_revoked": queryset.count() - len(tokens),
                "action_checkbox_name": ACTION_CHECKBOX_NAME,
                "selected": request.POST.getlist(ACTION_CHECKBOX_NAME),
            }
            return TemplateResponse(request, "admin/opsconsole/apitoken/revoke_confirmation.html", context)
        revoked = api_tokens_revoke(tokens=tokens, actor=request_actor(request, door="admin"))
        self.message_user(
            request,
            ngettext("%(count)d API token revoked.", "%(count)d API tokens revoked.", revoked) % {"count": revoked},
            messages.SUCCESS,
        )
        return None


# Staff users: two-factor column and reset (kept apart from the lockout admins above).
from audit import admin_users  # noqa: E402, F401
