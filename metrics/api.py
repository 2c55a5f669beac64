"""`GET metric-snapshots`: the hourly counts behind the dashboard's charts; `GET timeline`: the incident timeline."""

from __future__ import annotations

from typing import Any

from django.http import HttpResponse
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.generics import ListAPIView
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.settings import api_settings
from rest_framework.views import APIView

from jobs.api import CSVRenderer
from metrics.filters import MetricSnapshotFilter
from metrics.models import MetricSnapshot
from metrics.timeline import (
    KINDS,
    SOURCES,
    TIMELINE_SOURCE_LIMIT,
    TimelineQuerySerializer,
    incident_timeline,
    timeline_csv,
    timeline_rows,
)


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


class TimelineEventSerializer(serializers.Serializer):  # type: ignore[type-arg]
    at = serializers.DateTimeField()
    kind = serializers.ChoiceField(choices=KINDS)
    subject = serializers.CharField()
    summary = serializers.CharField()
    actor = serializers.CharField(help_text="Who acted (`admin:olive`, `api:deploy-bot`); empty when nobody did.")
    link = serializers.CharField(help_text="The admin page of the row the event comes from.")


class TimelineSerializer(serializers.Serializer):  # type: ignore[type-arg]
    since = serializers.DateTimeField()
    until = serializers.DateTimeField()
    truncated = serializers.ListField(
        child=serializers.ChoiceField(choices=SOURCES),
        help_text=f"Sources with more than {TIMELINE_SOURCE_LIMIT} events in the window: their latest are shown.",
    )
    events = TimelineEventSerializer(many=True)


class TimelineView(APIView):
    """The incident timeline (metrics.timeline): alerts, operator and system actions, failed or
    long job runs, breakers, settings changes, queue pauses, account health and deploys, oldest
    first. `?format=csv` downloads it for a post-mortem; `?format=json` is the same as the API's."""

    renderer_classes = [*api_settings.DEFAULT_RENDERER_CLASSES, CSVRenderer]  # type: ignore[list-item]

    @extend_schema(
        parameters=[TimelineQuerySerializer],
        responses={200: TimelineSerializer},
        tags=["metrics"],
        operation_id="timeline",
    )
    def get(self, request: Request) -> Any:
        query = TimelineQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        timeline = incident_timeline(**query.validated_data)
        rows = timeline_rows(timeline, absolute=request.build_absolute_uri)
        stamp = f"{timeline['since']:%Y%m%d-%H%M}-{timeline['until']:%Y%m%d-%H%M}"
        if request.accepted_renderer.format == "csv":
            response = HttpResponse(timeline_csv(rows), content_type="text/csv; charset=utf-8")
            response["Content-Disposition"] = f'attachment; filename="timeline-{stamp}.csv"'
            return response
        data = TimelineSerializer({**timeline, "events": rows}).data
        response = Response(data)
        if request.query_params.get("format") == "json":
            response["Content-Disposition"] = f'attachment; filename="timeline-{stamp}.json"'
        return response
