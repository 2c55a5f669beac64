from __future__ import annotations

from django.contrib import admin
from django.http import HttpRequest
from django.urls import URLPattern

from metrics.dashboard import dashboard_urls
from metrics.models import MetricSnapshot
from metrics.queues_control import queues_admin_urls
from metrics.timeline import timeline_admin_urls


@admin.register(MetricSnapshot)
class MetricSnapshotAdmin(admin.ModelAdmin):
    list_display = [
        "taken_at",
        "accounts_total",
        "playlists_active",
        "tracks_total",
        "tracks_with_features",
        "reshuffles",
        "dead_letters",
        "job_failures",
    ]
    date_hierarchy = "taken_at"
    readonly_fields = [f.name for f in MetricSnapshot._meta.fields]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def get_urls(self) -> list[URLPattern]:
        return dashboard_urls(self) + queues_admin_urls(self) + timeline_admin_urls(self) + super().get_urls()
