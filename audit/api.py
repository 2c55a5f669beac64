"""`GET /api/v1/audit` (docs/runbooks/who-did-what.md)."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.generics import ListAPIView
from rest_framework.request import Request

from audit.filters import AuditEventFilter
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


class AuditEventListView(ListAPIView):
    """Operator actions from every door, newest first."""

    queryset = AuditEvent.objects.order_by("-at", "-id")
    serializer_class = AuditEventSerializer
    filterset_class = AuditEventFilter

    @extend_schema(tags=["audit"], operation_id="audit_list")
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Any:
        return super().get(request, *args, **kwargs)
