"""Single sign-on identities (Users and access): read-only, written by audit.sso at each sign-in;
process starts (deploy markers), written by each process at boot (core.deploys)."""

from __future__ import annotations

from django.contrib import admin
from django.http import HttpRequest

from core.models import ExternalIdentity, ProcessStart


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


@admin.register(ProcessStart)
class ProcessStartAdmin(admin.ModelAdmin):
    list_display = ["started_at", "kind", "version", "previous_version", "hostname", "name", "pid"]
    list_filter = ["kind", "version"]
    search_fields = ["hostname", "name", "version"]
    readonly_fields = [f.name for f in ProcessStart._meta.fields]
    ordering = ["-started_at", "-id"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: ProcessStart | None = None) -> bool:
        return False
