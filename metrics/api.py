"""Read endpoints of the job history and the metric snapshots."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from typing import Any

from django.db.models import QuerySet
from django.utils import timezone
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.generics import ListAPIView
from rest_framework.renderers import BaseRenderer
from rest_framework.request import Request
from rest_framework.settings import api_settings

from metrics.job_runs import job_runs_csv_response, job_runs_touching
from metrics.models import MetricSnapshot
from opsconsole.jobs.models import JobRun
from opsconsole.rows import RowSerializer, RowsListMixin

RANGES = {"24h": timedelta(hours=24), "7d": timedelta(days=7), "30d": timedelta(days=30)}


class JobRunSerializer(serializers.ModelSerializer):
    class Meta:
        model = JobRun
        fields = [
            "id",
            "job_name",
            "task_name",
            "task_id",
            "trigger",
            "triggered_by",
            "correlation_id",
            "status",
            "queued_at",
            "started_at",
            "finished_at",
            "duration_ms",
            "attempts",
            "summary",
            "error",
            "worker",
            "subject",
            "args",
            "kwargs",
        ]
        read_only_fields = fields


class JobRunFilterSerializer(serializers.Serializer):
    job = serializers.CharField(required=False, max_length=100, help_text="Job name, e.g. refresh_tokens.")
    status = serializers.ChoiceField(required=False, choices=JobRun.Status.choices)
    trigger = serializers.ChoiceField(required=False, choices=JobRun.Trigger.choices)
    date = serializers.DateField(required=False, help_text="Runs started on this UTC day (YYYY-MM-DD).")
    since = serializers.DateTimeField(required=False, help_text="Runs started at or after this time.")
    until = serializers.DateTimeField(required=False, help_text="Runs started before this time.")
    playlist = serializers.UUIDField(required=False, help_text="Runs that touched this playlist.")
    account = serializers.UUIDField(required=False, help_text="Runs that touched this account.")
    album_source = serializers.IntegerField(required=False, min_value=1, help_text="Runs that claimed this album source.")

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if attrs.get("since") and attrs.get("until") and attrs["since"] >= attrs["until"]:
            raise serializers.ValidationError({"until": ["Must be later than `since`."]})
        return attrs


class CSVRenderer(BaseRenderer):
    """Lets `?format=csv` through content negotiation; the view streams the rows itself."""

    media_type = "text/csv"
    format = "csv"
    charset = "utf-8"

    def render(self, data: Any, accepted_media_type: str | None = None, renderer_context: Any = None) -> bytes:
        return b""


# JobRunSerializer's output from `.values()` rows (the JSON list; tests hold the two equal).
JOB_RUN_ROWS = RowSerializer(JobRunSerializer)


class JobRunListView(RowsListMixin, ListAPIView):
    """Job history, newest first; filter by job, status, trigger, start date and subject
    (`playlist`, `account`, `album_source`); `?format=csv` streams the whole filtered list."""

    serializer_class = JobRunSerializer
    rows = JOB_RUN_ROWS
    renderer_classes = [*api_settings.DEFAULT_RENDERER_CLASSES, CSVRenderer]  # type: ignore[list-item]

    def get_queryset(self) -> QuerySet[JobRun]:
        filters = JobRunFilterSerializer(data=self.request.query_params)
        filters.is_valid(raise_exception=True)
        wanted = filters.validated_data
        queryset = JobRun.objects.all().order_by("-started_at", "-id")
        if "job" in wanted:
            queryset = queryset.filter(job_name=wanted["job"])
        if "status" in wanted:
            queryset = queryset.filter(status=wanted["status"])
        if "trigger" in wanted:
            queryset = queryset.filter(trigger=wanted["trigger"])
        if "date" in wanted:
            start = datetime.combine(wanted["date"], time.min, tzinfo=timezone.get_current_timezone())
            queryset = queryset.filter(started_at__gte=start, started_at__lt=start + timedelta(days=1))
        if "since" in wanted:
            queryset = queryset.filter(started_at__gte=wanted["since"])
        if "until" in wanted:
            queryset = queryset.filter(started_at__lt=wanted["until"])
        return job_runs_touching(
            queryset, playlist=wanted.get("playlist"), account=wanted.get("account"), source=wanted.get("album_source")
        )

    @extend_schema(parameters=[JobRunFilterSerializer], tags=["jobs"], operation_id="job_runs_list")
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Any:
        if request.accepted_renderer.format == "csv":
            return job_runs_csv_response(self.get_queryset())
        return super().get(request, *args, **kwargs)


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
