"""`GET metric-snapshots`: the hourly counts behind the dashboard's charts."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.db.models import QuerySet
from django.utils import timezone
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.generics import ListAPIView
from rest_framework.request import Request

from metrics.models import MetricSnapshot

RANGES = {"24h": timedelta(hours=24), "7d": timedelta(days=7), "30d": timedelta(days=30)}


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


class MetricSnapshotFilterSerializer(serializers.Serializer):
    range = serializers.ChoiceField(choices=sorted(RANGES), default="24h", help_text="How far back: 24h, 7d or 30d.")


class MetricSnapshotListView(ListAPIView):
    """Hourly snapshots over the chosen range, oldest first (chart order)."""

    serializer_class = MetricSnapshotSerializer

    def get_queryset(self) -> QuerySet[MetricSnapshot]:
        filters = MetricSnapshotFilterSerializer(data=self.request.query_params)
        filters.is_valid(raise_exception=True)
        since = timezone.now() - RANGES[filters.validated_data["range"]]
        return MetricSnapshot.objects.filter(taken_at__gte=since).order_by("taken_at")

    @extend_schema(parameters=[MetricSnapshotFilterSerializer], tags=["metrics"], operation_id="metric_snapshots_list")
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Any:
        return super().get(request, *args, **kwargs)
