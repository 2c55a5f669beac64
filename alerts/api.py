"""The alerting API: alerts (list, acknowledge, snooze, resolve), channels (list, create, test),
rules (list). Operators act, viewers read (the global StaffGroupPermission)."""

from __future__ import annotations

from typing import Any

from django.shortcuts import get_object_or_404
from django.utils import timezone
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import exceptions, serializers, status
from rest_framework.generics import ListAPIView
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from alerts import services
from alerts.filters import AlertFilter
from alerts.models import Alert, AlertRule, NotificationChannel
from core.actors import request_actor


class AlertConflict(exceptions.APIException):
    status_code = status.HTTP_409_CONFLICT
    default_detail = "The alert's state does not allow this."
    default_code = "alert_state"


class AlertSerializer(serializers.ModelSerializer):
    rule = serializers.CharField(source="rule.name")

    class Meta:
        model = Alert
        fields = [
            "id",
            "rule",
            "subject",
            "subject_label",
            "severity",
            "state",
            "summary",
            "opened_at",
            "last_seen_at",
            "last_notified_at",
            "acknowledged_at",
            "acknowledged_by",
            "snoozed_until",
            "snooze_reason",
            "resolved_at",
            "resolved_by",
        ]
        read_only_fields = fields


class AlertListView(ListAPIView):
    """Alerts, unresolved first, newest first; `state` filters."""

    queryset = Alert.objects.select_related("rule").order_by("-opened_at", "-id")
    serializer_class = AlertSerializer
    filterset_class = AlertFilter

    @extend_schema(tags=["alerts"], operation_id="alerts_list")
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Any:
        return super().get(request, *args, **kwargs)


class _AlertAction(APIView):
    def _act(self, request: Request, pk: int, **kwargs: Any) -> Response:
        alert = get_object_or_404(Alert, pk=pk)
        try:
            alert = self.apply(alert=alert, actor=request_actor(request, door="api"), **kwargs)
        except services.AlertStateError as exc:
            raise AlertConflict(str(exc)) from exc
        return Response(AlertSerializer(Alert.objects.select_related("rule").get(pk=alert.pk)).data)

    def apply(self, **kwargs: Any) -> Alert:
        raise NotImplementedError


class AlertAcknowledgeView(_AlertAction):
    apply = staticmethod(services.alert_acknowledge)  # type: ignore[assignment]

    @extend_schema(request=None, responses=AlertSerializer, tags=["alerts"])
    def post(self, request: Request, pk: int) -> Response:
        return self._act(request, pk)


class AlertResolveView(_AlertAction):
    apply = staticmethod(services.alert_resolve)  # type: ignore[assignment]

    @extend_schema(request=None, responses=AlertSerializer, tags=["alerts"])
    def post(self, request: Request, pk: int) -> Response:
        return self._act(request, pk)


class SnoozeSerializer(serializers.Serializer):
    until = serializers.DateTimeField(help_text="Notifications pause until this time (ISO 8601).")
    reason = serializers.CharField(max_length=300)

    def validate_until(self, value: Any) -> Any:
        if value <= timezone.now():
            raise serializers.ValidationError("Must be in the future.")
        return value


class AlertSnoozeView(_AlertAction):
    apply = staticmethod(services.alert_snooze)  # type: ignore[assignment]

    @extend_schema(request=SnoozeSerializer, responses=AlertSerializer, tags=["alerts"])
    def post(self, request: Request, pk: int) -> Response:
        body = SnoozeSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        return self._act(request, pk, until=body.validated_data["until"], reason=body.validated_data["reason"])


class ChannelSerializer(serializers.ModelSerializer):
    """Target and secret are write-only: an answer never carries them."""

    target = serializers.CharField(write_only=True, max_length=2000, help_text="Email address or webhook URL.")
    secret = serializers.CharField(write_only=True, required=False, allow_blank=True, max_length=500)
    kind = serializers.ChoiceField(choices=NotificationChannel.Kind.choices)

    class Meta:
        model = NotificationChannel
        fields = ["id", "name", "kind", "target", "secret", "enabled", "created_at", "last_success_at", "failing_since"]
        read_only_fields = ["id", "enabled", "created_at", "last_success_at", "failing_since"]

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if attrs.get("secret") and attrs["kind"] != NotificationChannel.Kind.WEBHOOK:
            raise serializers.ValidationError({"secret": ["Only a signed webhook takes a secret."]})
        return attrs


class ChannelListCreateView(ListAPIView):
    serializer_class = ChannelSerializer
    queryset = NotificationChannel.objects.order_by("name")

    @extend_schema(tags=["alerts"], operation_id="alert_channels_list")
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Any:
        return super().get(request, *args, **kwargs)

    @extend_schema(request=ChannelSerializer, responses={201: ChannelSerializer}, tags=["alerts"])
    def post(self, request: Request) -> Response:
        body = ChannelSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        try:
            channel = services.channel_create(
                kind=data["kind"],
                name=data["name"],
                target=data["target"].strip(),
                secret=data.get("secret", ""),
                actor=request_actor(request, door="api"),
            )
        except ValueError as exc:
            raise serializers.ValidationError({"target": [str(exc)]}) from exc
        return Response(ChannelSerializer(channel).data, status=status.HTTP_201_CREATED)


class ChannelTestView(APIView):
    @extend_schema(
        request=None,
        responses={202: inline_serializer("AlertChannelTestQueued", {"notification_id": serializers.IntegerField()})},
        tags=["alerts"],
    )
    def post(self, request: Request, pk: int) -> Response:
        channel = get_object_or_404(NotificationChannel, pk=pk)
        notification = services.channel_send_test(channel=channel, actor=request_actor(request, door="api"))
        return Response({"notification_id": notification.pk}, status=status.HTTP_202_ACCEPTED)


class AlertRuleSerializer(serializers.ModelSerializer):
    channels: serializers.Field = serializers.SlugRelatedField(slug_field="name", many=True, read_only=True)

    class Meta:
        model = AlertRule
        fields = [
            "id",
            "name",
            "kind",
            "params",
            "severity",
            "channels",
            "reminder_interval",
            "enabled",
            "description",
            "last_evaluated_at",
            "last_error",
        ]
        read_only_fields = fields


class AlertRuleListView(ListAPIView):
    serializer_class = AlertRuleSerializer
    queryset = AlertRule.objects.prefetch_related("channels").order_by("name")

    @extend_schema(tags=["alerts"], operation_id="alert_rules_list")
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Any:
        return super().get(request, *args, **kwargs)
