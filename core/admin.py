"""Single sign-on identities (Users and access): read-only, written by audit.sso at each sign-in."""

from __future__ import annotations

from django.contrib import admin
from django.http import HttpRequest

from core.models import ExternalIdentity


@admin.register(ExternalIdentity)
class ExternalIdentityAdmin(admin.ModelAdmin):
    list_display = ["user", "issuer", "sub", "last_login_at", "last_groups", "created_at"]
    list_select_related = ["user"]
    list_filter = ["issuer"]
    search_fields = ["=sub", "user__username"]
    search_help_text = "Subject (exact) or username."
    readonly_fields = ["user", "issuer", "sub", "created_at", "last_login_at", "last_groups"]
    ordering = ["-last_login_at"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: ExternalIdentity | None = None) -> bool:
        return False
