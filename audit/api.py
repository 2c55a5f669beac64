"""`GET /api/v1/audit` (docs/runbooks/who-did-what.md)."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from typing import Any

from django.db.models import QuerySet
from django.utils import timezone
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.generics import ListAPIView
from rest_framework.request import Request

from audit.models import AuditEvent


class AuditEventSerializer(serializers.ModelSerializer):
    class Meta:
        model = AuditEvent
        fields = [
            "id",
            "at",
            "actor",
            "door",
            "action",
            "target_type",
            "target_id",
            "target_repr",
            "outcome",
            "details",
            "request_id",
        ]
        read_only_fields = fields


class AuditFilterSerializer(serializers.Serializer):
    actor = serializers.CharField(required=False, max_length=150, help_text="e.g. admin:olive")
    action = serializers.CharField(required=False, max_length=100, help_text="e.g. account.deactivate")
    target_type = serializers.CharField(required=False, max_length=100, help_text="e.g. spotify account, queue")
    target_id = serializers.CharField(required=False, max_length=255)
    door = serializers.ChoiceField(required=False, choices=AuditEvent.Door.choices)
    outcome = serializers.ChoiceField(required=False, choices=AuditEvent.Outcome.choices)
    request_id = serializers.CharField(required=False, max_length=64)
    date = serializers.DateField(required=False, help_text="Events on this UTC day (YYYY-MM-DD).")
    since = serializers.DateTimeField(required=False)
    until = serializers.DateTimeField(required=False)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if attrs.get("since") and attrs.get("until") and attrs["since"] >= attrs["until"]:
            raise serializers.ValidationError({"until": ["Must be later than `since`."]})
        return attrs


class AuditEventListView(ListAPIView):
    """Operator actions from every door, newest first."""

    serializer_class = AuditEventSerializer

    def get_queryset(self) -> QuerySet[AuditEvent]:
        filters = AuditFilterSerializer(data=self.request.query_params)
        filters.is_valid(raise_exception=True)
        wanted = filters.validated_data
        queryset = AuditEvent.objects.order_by("-at", "-id")
        exact = ("actor", "action", "target_type", "target_id", "door", "outcome", "request_id")
        queryset = queryset.filter(**{name: wanted[name] for name in exact if name in wanted})
        if "date" in wanted:
            start = datetime.combine(wanted["date"], time.min, tzinfo=timezone.get_current_timezone())
            queryset = queryset.filter(at__gte=start, at__lt=start + timedelta(days=1))
        if "since" in wanted:
            queryset = queryset.filter(at__gte=wanted["since"])
        if "until" in wanted:
            queryset = queryset.filter(at__lt=wanted["until"])
        return queryset

    @extend_schema(parameters=[AuditFilterSerializer], tags=["audit"], operation_id="audit_list")
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Any:
        return super().get(request, *args, **kwargs)
