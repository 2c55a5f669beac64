"""Circuit breakers and connector settings under /api/v1/ (staff read; operators write).

They govern every Spotify call (token refresh, /me, playlists, catalog), so they live beside
the client rather than in any one app.
"""

from __future__ import annotations

from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.exceptions import NotFound
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from core.actors import request_actor
from core.serializers import RefuseUnknownFields, refuse_body
from spotify.breaker import (
    breaker_names,
    breaker_state,
    breaker_states,
    circuit_breaker_reset,
    circuit_breakers_reset_all,
)
from spotify.connectors import connector_setting_update, connector_settings_reload, connector_settings_seed
from spotify.models import ConnectorSetting, RateLimitSetting
from spotify.ratelimit_settings import rate_limit_reset, rate_limit_set
from spotify.serializers import BreakerSerializer, ConnectorSettingPatchSerializer, ConnectorSettingSerializer


class CircuitBreakerListView(APIView):
    @extend_schema(
        responses=inline_serializer("CircuitBreakers", {"breakers": BreakerSerializer(many=True)}), tags=["circuit breakers"]
    )
    def get(self, request: Request) -> Response:
        return Response({"breakers": BreakerSerializer(breaker_states(), many=True).data})


class CircuitBreakerResetView(APIView):
    @extend_schema(request=None, responses=BreakerSerializer, tags=["circuit breakers"])
    def post(self, request: Request, name: str) -> Response:
        refuse_body(request)
        if name not in breaker_names():
            raise NotFound(f"No circuit breaker named {name!r}; see GET /api/v1/circuit-breakers.")
        circuit_breaker_reset(name=name, actor=request_actor(request, door="api"))
        return Response(BreakerSerializer(breaker_state(name)).data)


class CircuitBreakerResetAllView(APIView):
    @extend_schema(
        request=None,
        responses=inline_serializer("CircuitBreakersReset", {"reset_count": serializers.IntegerField()}),
        tags=["circuit breakers"],
    )
    def post(self, request: Request) -> Response:
        refuse_body(request)
        return Response({"reset_count": circuit_breakers_reset_all(actor=request_actor(request, door="api"))})


class ConnectorListView(APIView):
    @extend_schema(
        responses=inline_serializer("Connectors", {"connectors": ConnectorSettingSerializer(many=True)}),
        description="Per Spotify operation (breaker names): enabled, timeout, batch size, max attempts, cooldown.",
        tags=["connectors"],
        operation_id="connectors_list",
    )
    def get(self, request: Request) -> Response:
        connector_settings_seed()
        return Response({"connectors": ConnectorSettingSerializer(ConnectorSetting.objects.order_by("name"), many=True).data})


class ConnectorDetailView(APIView):
    def _setting(self, name: str) -> ConnectorSetting:
        connector_settings_seed()
        setting = ConnectorSetting.objects.filter(name=name).first()
        if setting is None:
            raise NotFound(f"No connector named {name!r}; see GET /api/v1/connectors.")
        return setting

    @extend_schema(responses=ConnectorSettingSerializer, tags=["connectors"], operation_id="connectors_retrieve")
    def get(self, request: Request, name: str) -> Response:
        return Response(ConnectorSettingSerializer(self._setting(name)).data)

    @extend_schema(
        request=ConnectorSettingPatchSerializer,
        responses={200: ConnectorSettingSerializer},
        description="Operators only. Takes effect in every worker within seconds, no restart; audited "
        "(admin history of the row, with the changed fields) and logged.",
        tags=["connectors"],
    )
    def patch(self, request: Request, name: str) -> Response:
        setting = self._setting(name)
        serializer = ConnectorSettingPatchSerializer(setting, data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        setting, changed = connector_setting_update(name=name, values=serializer.validated_data, user=request.user)
        return Response({**ConnectorSettingSerializer(setting).data, "changed": changed})


class ConnectorReloadView(APIView):
    @extend_schema(
        request=None,
        responses=inline_serializer("ConnectorsReloaded", {"connectors": ConnectorSettingSerializer(many=True)}),
        description="Operators only. Every worker rereads the connector table on its next call: for rows changed "
        "outside the admin and API (SQL by hand). Saves through the admin or PATCH reload by themselves.",
        tags=["connectors"],
    )
    def post(self, request: Request) -> Response:
        refuse_body(request)
        connector_settings_reload(actor=request_actor(request, door="api"))
        return Response({"connectors": ConnectorSettingSerializer(ConnectorSetting.objects.order_by("name"), many=True).data})


class RateLimitSettingSerializer(serializers.ModelSerializer):
    class Meta:
        model = RateLimitSetting
        fields = ["id", "kind", "ident", "label", "rate_per_second", "burst", "note", "updated_by", "updated_at"]
        read_only_fields = ["id", "updated_by", "updated_at"]


class RateLimitSettingInputSerializer(RefuseUnknownFields, serializers.Serializer):
    kind = serializers.ChoiceField(choices=RateLimitSetting.Kind.choices)
    ident = serializers.CharField(
        required=False, allow_blank=True, default="", max_length=64, help_text="App or account id; empty: the whole kind."
    )
    name = serializers.CharField(
        required=False, allow_blank=True, default="", max_length=200, help_text="The app's name or account's display name."
    )
    rate_per_second = serializers.FloatField(min_value=0.01, max_value=1000)
    burst = serializers.IntegerField(min_value=1, max_value=10000)
    note = serializers.CharField(required=False, allow_blank=True, default="", max_length=300)


class RateLimitSettingListView(APIView):
    @extend_schema(
        responses=inline_serializer("RateLimitSettings", {"settings": RateLimitSettingSerializer(many=True)}),
        tags=["rate limits"],
        operation_id="rate_limit_settings_list",
    )
    def get(self, request: Request) -> Response:
        rows = RateLimitSetting.objects.order_by("kind", "ident")
        return Response({"settings": RateLimitSettingSerializer(rows, many=True).data})

    @extend_schema(
        request=RateLimitSettingInputSerializer,
        responses={200: RateLimitSettingSerializer},
        description="Operators only. Create or change the rate and burst of one app's or account's bucket (`ident`), "
        "or of every bucket of a kind (empty `ident`); every worker applies it within seconds; audited.",
        tags=["rate limits"],
    )
    def post(self, request: Request) -> Response:
        serializer = RateLimitSettingInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = dict(serializer.validated_data)
        setting, changed = rate_limit_set(actor=request_actor(request, door="api"), label=data.pop("name"), **data)
        return Response({**RateLimitSettingSerializer(setting).data, "changed": changed})


class RateLimitSettingDetailView(APIView):
    @extend_schema(
        request=None,
        responses={204: None},
        description="Operators only. Drop the override: back to the kind's row or the environment default; audited.",
        tags=["rate limits"],
    )
    def delete(self, request: Request, pk: int) -> Response:
        refuse_body(request)
        setting = RateLimitSetting.objects.filter(pk=pk).first()
        if setting is None:
            raise NotFound(f"No rate-limit setting {pk}; see GET /api/v1/rate-limit-settings.")
        rate_limit_reset(setting=setting, actor=request_actor(request, door="api"))
        return Response(status=204)
