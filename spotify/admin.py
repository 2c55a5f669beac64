from __future__ import annotations

from django import forms
from django.contrib import admin
from django.http import HttpRequest

from core.actors import request_actor
from spotify.connectors import connector_setting_changed
from spotify.models import CONNECTOR_SETTING_COLUMNS, ConnectorSetting, RateLimitSetting
from spotify.ratelimit_settings import rate_limit_changed


@admin.register(ConnectorSetting)
class ConnectorSettingAdmin(admin.ModelAdmin):
    """Disable a provider or raise a timeout (docs/runbooks/connector-settings.md): saving is the reload."""

    list_display = CONNECTOR_SETTING_COLUMNS
    list_editable = ["enabled"]
    list_filter = ["enabled"]
    readonly_fields = ["name", "updated_by", "updated_at"]
    fields = CONNECTOR_SETTING_COLUMNS

    def has_add_permission(self, request: HttpRequest) -> bool:
        # One row per Spotify operation, created by migration: a typo'd name would do nothing.
        return False

    def has_delete_permission(self, request: HttpRequest, obj: ConnectorSetting | None = None) -> bool:
        return False

    def save_model(self, request: HttpRequest, obj: ConnectorSetting, form: forms.ModelForm, change: bool) -> None:
        changed = {field: (form.initial.get(field), form.cleaned_data.get(field)) for field in form.changed_data}
        actor = request_actor(request, door="admin")
        obj.updated_by = actor[:150]
        super().save_model(request, obj, form, change)
        # Django writes the LogEntry; this reloads every worker and logs the change.
        connector_setting_changed(setting=obj, changed=changed, actor=actor, via="admin")


@admin.register(RateLimitSetting)
class RateLimitSettingAdmin(admin.ModelAdmin):
    """Rate and burst of the token buckets (docs/runbooks/rate-limiter.md): saving applies in every worker
    within seconds. No row for a kind: the environment's SPOTIFY_*_RATE_PER_SECOND / *_BURST."""

    list_display = ["kind", "ident", "label", "rate_per_second", "burst", "note", "updated_by", "updated_at"]
    list_filter = ["kind"]
    search_fields = ["=ident", "label"]
    readonly_fields = ["updated_by", "updated_at"]
    fields = ["kind", "ident", "label", "rate_per_second", "burst", "note", "updated_by", "updated_at"]

    def has_delete_permission(self, request: HttpRequest, obj: RateLimitSetting | None = None) -> bool:
        # Resetting goes through DELETE /api/v1/rate-limit-settings/<id>, audited once; here, edit the values.
        return False

    def save_model(self, request: HttpRequest, obj: RateLimitSetting, form: forms.ModelForm, change: bool) -> None:
        before = {"rate_per_second": form.initial.get("rate_per_second"), "burst": form.initial.get("burst")} if change else None
        actor = request_actor(request, door="admin")
        obj.updated_by = actor[:150]
        super().save_model(request, obj, form, change)
        rate_limit_changed(
            setting=obj, actor=actor, before=before, after={"rate_per_second": obj.rate_per_second, "burst": obj.burst}
        )
