"""`GET metric-snapshots`: the hourly counts behind the dashboard's charts."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.generics import ListAPIView
from rest_framework.request import Request

from metrics.filters import MetricSnapshotFilter
from metrics.models import MetricSnapshot


class MetricSnapshotSerializer(serializers.ModelSerializer):
    class Meta:
        model = MetricSnapshot
        fields = [
            "id",
            "taken_at",
            "accounts_total",
            "accounts_by_health",
            "playlists_active",
            "tracks_total",
            "tracks_with_features",
            "reshuffles",
            "retries",
            "dead_letters",
            "job_failures",
            "extra",
        ]
        read_only_fields = fields


class MetricSnapshotListView(ListAPIView):
    """Hourly snapshots over the chosen range, oldest first (chart order)."""

    queryset = MetricSnapshot.objects.order_by("taken_at")
    serializer_class = MetricSnapshotSerializer
    filterset_class = MetricSnapshotFilter

    @extend_schema(tags=["metrics"], operation_id="metric_snapshots_list")
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Any:
        return super().get(request, *args, **kwargs)
