"""Connect and re-authorize over the API: the same links the admin makes (docs/runbooks/connect-account.md)."""

from __future__ import annotations

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import generics, serializers, status
from rest_framework.exceptions import APIException
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.models import AuthorizationRequest, SpotifyAccount, SpotifyApp
from accounts.oauth import (
    AuthorizationLink,
    AuthorizationRefused,
    accounts_reauthorize_due,
    authorization_request_create,
    authorization_requests_by_status,
)
from core.actors import request_actor
from core.serializers import RefuseUnknownFields, refuse_body


class Refused(APIException):
    status_code = status.HTTP_409_CONFLICT
    default_code = "refused"


class ConnectSerializer(RefuseUnknownFields, serializers.Serializer):
    app_id = serializers.PrimaryKeyRelatedField(queryset=SpotifyApp.objects.all(), help_text="The Spotify app's id.")


class AuthorizationLinkSerializer(serializers.Serializer):
    authorize_url = serializers.URLField(help_text="Spotify's authorize URL: open it, or send it to the account's owner.")
    state_expires_at = serializers.DateTimeField()
    request_id = serializers.UUIDField()


def _created(link: AuthorizationLink) -> Response:
    body = {
        "authorize_url": link.authorize_url,
        "state_expires_at": link.request.expires_at,
        "request_id": link.request.pk,
    }
    return Response(AuthorizationLinkSerializer(body).data, status=status.HTTP_201_CREATED)


class AccountConnectView(APIView):
    """A link that connects a new Spotify account to the app (refused at the app's user cap: 409)."""

    @extend_schema(request=ConnectSerializer, responses={201: AuthorizationLinkSerializer}, tags=["accounts"])
    def post(self, request: Request) -> Response:
        serializer = ConnectSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        try:
            link = authorization_request_create(app=serializer.validated_data["app_id"], actor=request_actor(request, door="api"))
        except AuthorizationRefused as exc:
            raise Refused(str(exc)) from None
        return _created(link)


class AccountReauthorizeView(APIView):
    """A link that re-authorizes this account (reauth_required, near its six-month end, or missing scopes; else 409)."""

    @extend_schema(request=None, responses={201: AuthorizationLinkSerializer}, tags=["accounts"])
    def post(self, request: Request, account_id: str) -> Response:
        refuse_body(request)
        account = get_object_or_404(SpotifyAccount.objects.select_related("app"), pk=account_id)
        if not accounts_reauthorize_due().filter(pk=account.pk).exists():
            raise Refused(f"account {account} is not due for re-authorization (re-authorize by {account.reauth_due_at:%Y-%m-%d})")
        link = authorization_request_create(app=account.app, account=account, actor=request_actor(request, door="api"))
        return _created(link)


class AuthorizationRequestSerializer(serializers.ModelSerializer):
    app = serializers.CharField(source="app.name")
    kind = serializers.CharField(help_text="connect | reauthorize")
    status = serializers.CharField(source="current_status", help_text="pending | completed | denied | expired | failed")

    class Meta:
        model = AuthorizationRequest
        # Neither the state nor the verifier is ever serialized.
        fields = [
            "id",
            "kind",
            "app",
            "account",
            "created_by",
            "created_at",
            "expires_at",
            "status",
            "status_reason",
            "completed_at",
            "spotify_user_id",
        ]


@extend_schema(
    tags=["accounts"],
    parameters=[OpenApiParameter("status", str, enum=list(AuthorizationRequest.Status.values))],
)
class AuthorizationRequestListView(generics.ListAPIView):
    serializer_class = AuthorizationRequestSerializer

    def get_queryset(self):  # type: ignore[no-untyped-def]
        status_ = self.request.query_params.get("status")
        if status_ and status_ not in AuthorizationRequest.Status.values:
            raise serializers.ValidationError({"status": [f"One of {', '.join(AuthorizationRequest.Status.values)}."]})
        queryset = AuthorizationRequest.objects.select_related("app").order_by("-created_at", "id")
        return authorization_requests_by_status(queryset, status_)
