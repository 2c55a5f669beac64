"""The alerting API: alerts (list, acknowledge, snooze, resolve), silences (list, create, expire),
channels (list, create, test), rules (list). Operators act, viewers read (the global StaffGroupPermission)."""

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
from alerts.filters import AlertFilter, AlertSilenceFilter
from alerts.models import Alert, AlertRule, AlertSilence, NotificationChannel
from core.actors import request_actor
from core.serializers import RefuseUnknownFields, refuse_body


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
            "pending_since",
            "opened_at",
            "flapping",
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
    """Alerts, newest first; `state` filters (`pending`: the condition holds, not yet for the rule's `pending_for`)."""

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
        refuse_body(request)
        return self._act(request, pk)


class AlertResolveView(_AlertAction):
    apply = staticmethod(services.alert_resolve)  # type: ignore[assignment]

    @extend_schema(request=None, responses=AlertSerializer, tags=["alerts"])
    def post(self, request: Request, pk: int) -> Response:
        refuse_body(request)
        return self._act(request, pk)


class SnoozeSerializer(RefuseUnknownFields, serializers.Serializer):
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


class ChannelSerializer(RefuseUnknownFields, serializers.ModelSerializer):
    """Target and secret are write-only: an answer never carries them."""

    target = serializers.CharField(
        write_only=True, max_length=2000, help_text="Email address, webhook URL, or PagerDuty integration (routing) key."
    )
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
        refuse_body(request)
        channel = get_object_or_404(NotificationChannel, pk=pk)
        notification = services.channel_send_test(channel=channel, actor=request_actor(request, door="api"))
        return Response({"notification_id": notification.pk}, status=status.HTTP_202_ACCEPTED)


class AlertRuleSerializer(serializers.ModelSerializer):
    channels: serializers.Field = serializers.SlugRelatedField(slug_field="name", many=True, read_only=True)
    runbook_url = serializers.CharField(read_only=True, help_text="What the on-call does when the rule fires.")

    class Meta:
        model = AlertRule
        fields = [
            "id",
            "name",
            "kind",
            "params",
            "severity",
            "channels",
            "pending_for",
            "reminder_interval",
            "enabled",
            "description",
            "runbook_url",
            "last_evaluated_at",
            "last_error",
            "error_since",
        ]
        read_only_fields = fields


class AlertRuleListView(ListAPIView):
    serializer_class = AlertRuleSerializer
    queryset = AlertRule.objects.prefetch_related("channels").order_by("name")

    @extend_schema(tags=["alerts"], operation_id="alert_rules_list")
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Any:
        return super().get(request, *args, **kwargs)


class SilenceSerializer(RefuseUnknownFields, serializers.ModelSerializer):
    """A silence; `rule` by name (empty or null: every rule)."""

    rule = serializers.SlugRelatedField(
        slug_field="name", queryset=AlertRule.objects.all(), required=False, allow_null=True, help_text="A rule's name."
    )
    subject = serializers.CharField(max_length=200, required=False, default="*", help_text="Glob on subject or label.")
    starts_at = serializers.DateTimeField(required=False, help_text="Default now; later: a maintenance window.")
    ends_at = serializers.DateTimeField()
    status = serializers.SerializerMethodField()

    class Meta:
        model = AlertSilence
        fields = [
            "id",
            "rule",
            "subject",
            "starts_at",
            "ends_at",
            "reason",
            "status",
            "created_by",
            "created_at",
            "expired_at",
            "expired_by",
        ]
        read_only_fields = ["id", "status", "created_by", "created_at", "expired_at", "expired_by"]

    def get_status(self, obj: AlertSilence) -> str:
        return obj.status_at(timezone.now())


class SilenceListCreateView(ListAPIView):
    """Silences, newest first (`status` filters); POST creates one (operators), audited."""

    queryset = AlertSilence.objects.select_related("rule").order_by("-created_at", "-id")
    serializer_class = SilenceSerializer
    filterset_class = AlertSilenceFilter

    @extend_schema(tags=["alerts"], operation_id="alert_silences_list")
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Any:
        return super().get(request, *args, **kwargs)

    @extend_schema(request=SilenceSerializer, responses={201: SilenceSerializer}, tags=["alerts"])
    def post(self, request: Request) -> Response:
        body = SilenceSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        # The model's and the service's rules answer as field errors (core.api_errors: 400).
        silence = services.silence_create(
            rule=data.get("rule"),
            subject=data.get("subject", "*"),
            starts_at=data.get("starts_at"),
            ends_at=data["ends_at"],
            reason=data["reason"],
            actor=request_actor(request, door="api"),
        )
        return Response(SilenceSerializer(silence).data, status=status.HTTP_201_CREATED)


class SilenceExpireView(APIView):
    @extend_schema(request=None, responses=SilenceSerializer, tags=["alerts"], operation_id="alert_silence_expire")
    def delete(self, request: Request, pk: int) -> Response:
        refuse_body(request)
        silence = get_object_or_404(AlertSilence, pk=pk)
        try:
            silence = services.silence_expire(silence=silence, actor=request_actor(request, door="api"))
        except services.AlertStateError as exc:
            raise AlertConflict(str(exc)) from exc
        return Response(SilenceSerializer(silence).data)
