from __future__ import annotations

from django import forms
from django.contrib import admin
from django.http import HttpRequest

from opsconsole.actors import request_actor
from opsconsole.spotify.connectors import connector_setting_changed
from opsconsole.spotify.models import ConnectorSetting


@admin.register(ConnectorSetting)
class ConnectorSettingAdmin(admin.ModelAdmin):
    """Disable a provider or raise a timeout (README: "Connector settings"): saving is the reload."""

    list_display = [
        "name",
        "enabled",
        "timeout_seconds",
        "batch_size",
        "max_attempts",
        "cooldown_seconds",
        "note",
        "updated_by",
        "updated_at",
    ]
    list_editable = ["enabled"]
    list_filter = ["enabled"]
    readonly_fields = ["name", "updated_by", "updated_at"]
    fields = [
        "name",
        "enabled",
        "timeout_seconds",
        "batch_size",
        "max_attempts",
        "cooldown_seconds",
        "note",
        "updated_by",
        "updated_at",
    ]

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
