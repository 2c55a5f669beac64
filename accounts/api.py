"""Accounts API: the incident checklist (docs/runbooks/incident-checklist.md: list, emergency refresh, deactivate)."""

from __future__ import annotations

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db.models import QuerySet
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import generics, serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts import selectors, services
from accounts.filters import AccountFilter
from accounts.models import SpotifyAccount, SpotifyApp
from audit.services import audit_record
from core.actors import request_actor
from core.rows import JsonRowsListMixin
from core.serializers import RefuseUnknownFields, refuse_body
from core.stepup import DestructiveEndpoint


class AccountSerializer(serializers.ModelSerializer):
    app = serializers.CharField(source="app.name")
    playlist_count = serializers.IntegerField(read_only=True, help_text="Active playlists on the account.")
    reauth_due_at = serializers.DateTimeField(read_only=True)
    reauthorize_by = serializers.DateTimeField(
        source="reauth_due_at", read_only=True, help_text="The refresh token's six-month end: re-authorize before it."
    )
    reauth_due_soon = serializers.BooleanField(read_only=True)

    class Meta:
        model = SpotifyAccount
        # Tokens are never serialized.
        fields = [
            "id",
            "display_name",
            "spotify_user_id",
            "app",
            "is_active",
            "health",
            "health_reason",
            "token_expires_at",
            "reauth_due_at",
            "reauthorize_by",
            "reauth_due_soon",
            "consecutive_failures",
            "last_error",
            "last_error_at",
            "last_refreshed_at",
            "playlist_capacity",
            "playlist_count",
        ]


@extend_schema(tags=["accounts"])
class AccountListView(JsonRowsListMixin, generics.ListAPIView):
    serializer_class = AccountSerializer
    filterset_class = AccountFilter

    def get_queryset(self) -> QuerySet[SpotifyAccount]:
        return selectors.accounts_list()


class RefreshResultSerializer(serializers.Serializer):
    account_id = serializers.UUIDField()
    ok = serializers.BooleanField()
    detail = serializers.CharField()
    token_expires_at = serializers.DateTimeField(allow_null=True)
    health = serializers.CharField()


class AccountRefreshView(APIView):
    """Emergency token refresh: synchronous, so the operator sees the outcome at once."""

    @extend_schema(request=None, responses={200: RefreshResultSerializer, 502: RefreshResultSerializer}, tags=["accounts"])
    def post(self, request: Request, account_id: str) -> Response:
        refuse_body(request)
        account = get_object_or_404(SpotifyAccount.objects.select_related("app"), pk=account_id)
        [result] = services.accounts_refresh_tokens(accounts=[account], force=True)
        account.refresh_from_db()
        audit_record(
            actor=request_actor(request, door="api"),
            action="account.refresh_token",
            target=account,
            target_repr=account.display_name,
            outcome="ok" if result.ok else "failed",
            details={"result": result.detail},
        )
        body = {
            "account_id": account.pk,
            "ok": result.ok,
            "detail": result.detail,
            "token_expires_at": account.token_expires_at,
            "health": account.health,
        }
        # Spotify refused or failed: the gateway's error, not the caller's.
        return Response(
            RefreshResultSerializer(body).data, status=status.HTTP_200_OK if result.ok else status.HTTP_502_BAD_GATEWAY
        )


# Destructive: a browser session needs a recent sign-in (core.stepup); tokens are not asked.
class AccountDetailView(DestructiveEndpoint, APIView):
    @extend_schema(responses=AccountSerializer, tags=["accounts"])
    def get(self, request: Request, account_id: str) -> Response:
        account = get_object_or_404(
            selectors.accounts_annotated(SpotifyAccount.objects.select_related("app")),
            pk=account_id,
        )
        return Response(AccountSerializer(account).data)

    @extend_schema(request=None, responses={204: None}, tags=["accounts"])
    def delete(self, request: Request, account_id: str) -> Response:
        """Deactivate (soft): the account leaves the schedule; playlists and history are kept."""
        refuse_body(request)
        account = get_object_or_404(SpotifyAccount, pk=account_id)
        changed = services.account_deactivate(account=account, reason=f"deactivated via API by {request.user.get_username()}")
        audit_record(
            actor=request_actor(request, door="api"),
            action="account.deactivate",
            target=account,
            target_repr=account.display_name,
            details={"changed": changed},
        )
        return Response(status=status.HTTP_204_NO_CONTENT)


class RateLimitsQuerySerializer(serializers.Serializer):
    blocked = serializers.BooleanField(default=False, help_text="Only buckets blocked by a Retry-After")


class RateLimitsView(APIView):
    """Verify the rate limiter before re-enabling work (docs/runbooks/rate-limiter.md)."""

    @extend_schema(
        parameters=[RateLimitsQuerySerializer],
        responses=inline_serializer(
            "RateLimits",
            {
                "apps": serializers.ListField(child=serializers.DictField()),
                "accounts": serializers.ListField(child=serializers.DictField()),
            },
        ),
        tags=["accounts"],
    )
    def get(self, request: Request) -> Response:
        query = RateLimitsQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        return Response(selectors.ratelimit_overview(blocked_only=query.validated_data["blocked"]))


class RateLimitClearSerializer(RefuseUnknownFields, serializers.Serializer):
    kind = serializers.ChoiceField(choices=["app", "account"])
    id = serializers.CharField(max_length=64)

    def validate(self, attrs: dict) -> dict:
        model = SpotifyApp if attrs["kind"] == "app" else SpotifyAccount
        try:
            exists = model.objects.filter(pk=attrs["id"]).exists()
        except (ValueError, DjangoValidationError):
            exists = False
        if not exists:
            raise serializers.ValidationError({"id": [f"No {attrs['kind']} with id {attrs['id']!r}."]})
        return attrs


class RateLimitClearView(APIView):
    @extend_schema(
        request=RateLimitClearSerializer,
        responses=inline_serializer(
            "RateLimitCleared",
            {"kind": serializers.CharField(), "id": serializers.CharField(), "cleared": serializers.BooleanField()},
        ),
        tags=["accounts"],
    )
    def post(self, request: Request) -> Response:
        serializer = RateLimitClearSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        kind, ident = serializer.validated_data["kind"], serializer.validated_data["id"]
        services.ratelimit_clear_block(kind=kind, ident=ident, actor=request_actor(request, door="api"))
        return Response({"kind": kind, "id": ident, "cleared": True})
