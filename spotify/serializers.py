"""Serializers of the circuit-breaker and connector API."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from core.serializers import RefuseUnknownFields
from spotify.models import CONNECTOR_BATCH_LIMITS, CONNECTOR_SETTING_COLUMNS, ConnectorSetting


class BreakerSerializer(serializers.Serializer):
    name = serializers.CharField()
    state = serializers.ChoiceField(choices=["closed", "open", "half_open"])
    failure_streak = serializers.IntegerField()
    open_until = serializers.FloatField(allow_null=True)
    remaining_cooldown = serializers.FloatField()
    opened_count = serializers.IntegerField()
    last_error = serializers.CharField(allow_blank=True, allow_null=True)
    last_error_at = serializers.FloatField(allow_null=True, required=False)


class ConnectorSettingSerializer(serializers.ModelSerializer):
    class Meta:
        model = ConnectorSetting
        fields = list(CONNECTOR_SETTING_COLUMNS)
        read_only_fields = ["name", "updated_by", "updated_at"]


class ConnectorSettingPatchSerializer(RefuseUnknownFields, serializers.ModelSerializer):
    """Partial update; the model's validators give the field errors (400)."""

    class Meta:
        model = ConnectorSetting
        fields = ["enabled", "timeout_seconds", "batch_size", "max_attempts", "cooldown_seconds", "note"]

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if not attrs:
            raise serializers.ValidationError(
                {"non_field_errors": ["Send at least one of: " + ", ".join(self.Meta.fields) + "."]}
            )
        name = self.instance.name if self.instance is not None else ""
        limit = CONNECTOR_BATCH_LIMITS.get(name)
        if limit is not None and attrs.get("batch_size", 0) > limit:
            raise serializers.ValidationError({"batch_size": [f"{name} takes at most {limit} items per call."]})
        return attrs
