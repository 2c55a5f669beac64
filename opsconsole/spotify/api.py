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

from opsconsole.actors import request_actor
from opsconsole.spotify.breaker import (
    breaker_names,
    breaker_state,
    breaker_states,
    circuit_breaker_reset,
    circuit_breakers_reset_all,
)
from opsconsole.spotify.connectors import connector_setting_update, connector_settings_reload, connector_settings_seed
from opsconsole.spotify.models import ConnectorSetting
from opsconsole.spotify.serializers import BreakerSerializer, ConnectorSettingPatchSerializer, ConnectorSettingSerializer


class CircuitBreakerListView(APIView):
    @extend_schema(
        responses=inline_serializer("CircuitBreakers", {"breakers": BreakerSerializer(many=True)}), tags=["circuit breakers"]
    )
    def get(self, request: Request) -> Response:
        return Response({"breakers": BreakerSerializer(breaker_states(), many=True).data})


class CircuitBreakerResetView(APIView):
    @extend_schema(request=None, responses=BreakerSerializer, tags=["circuit breakers"])
    def post(self, request: Request, name: str) -> Response:
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
        connector_settings_reload(actor=request_actor(request, door="api"))
        return Response({"connectors": ConnectorSettingSerializer(ConnectorSetting.objects.order_by("name"), many=True).data})
