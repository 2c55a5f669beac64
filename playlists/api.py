"""Playlists API: create, bulk reshuffle, scale, and the reads. Every write queues Celery work."""

from __future__ import annotations

import uuid
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import QuerySet
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework import exceptions, generics, serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.models import SpotifyAccount
from core.actors import request_actor
from core.locks import LockBusy
from core.rows import JsonRowsListMixin
from core.serializers import PreviewSerializer, RefuseUnknownFields, dry_run_field
from jobs.models import JobRun
from playlists import selectors, services
from playlists.filters import PlaylistFilter, PlaylistHistoryFilter
from playlists.models import Playlist, PlaylistHistory, SnapshotTrack


class PlaylistSerializer(serializers.ModelSerializer):
    account_name = serializers.CharField(source="account.display_name", read_only=True)
    policy = serializers.CharField(source="policy.name", read_only=True)
    current_snapshot_id = serializers.IntegerField(allow_null=True, read_only=True)
    # An annotation of playlists.selectors.playlists_annotated.
    track_count = serializers.IntegerField(read_only=True, help_text="Tracks of the current snapshot (0 without one).")

    class Meta:
        model = Playlist
        fields = [
            "id",
            "account",
            "account_name",
            "policy",
            "index",
            "spotify_playlist_id",
            "name",
            "description",
            "status",
            "sync_state",
            "sync_error",
            "next_reshuffle_at",
            "last_synced_at",
            "current_snapshot_id",
            "track_count",
            "frozen",
            "spotify_snapshot_id",
            "last_verified_at",
            "not_before",
            "parked_work",
            "created_at",
            "retired_at",
        ]
        read_only_fields = fields


class SnapshotTrackSerializer(serializers.ModelSerializer):
    spotify_id = serializers.CharField(source="track.spotify_id")
    name = serializers.CharField(source="track.name")
    artist = serializers.CharField(source="track.artist.name")

    class Meta:
        model = SnapshotTrack
        fields = ["position", "spotify_id", "name", "artist"]


class PlaylistDetailSerializer(PlaylistSerializer):
    snapshot = serializers.SerializerMethodField()

    class Meta(PlaylistSerializer.Meta):
        fields = [*PlaylistSerializer.Meta.fields, "snapshot"]

    def get_snapshot(self, playlist: Playlist) -> dict[str, Any] | None:
        snapshot = playlist.current_snapshot
        if snapshot is None:
            return None
        items = snapshot.items.select_related("track__artist").order_by("position")
        return {
            "id": snapshot.pk,
            "seed": snapshot.seed,
            "created_at": snapshot.created_at,
            "synced_at": snapshot.synced_at,
            "track_count": snapshot.track_count,
            "notes": snapshot.notes,
            "tracks": SnapshotTrackSerializer(items, many=True).data,
        }


class PlaylistHistorySerializer(serializers.ModelSerializer):
    class Meta:
        model = PlaylistHistory
        fields = ["id", "playlist", "action", "actor", "details", "created_at"]


@extend_schema(tags=["playlists"])
class PlaylistListView(JsonRowsListMixin, generics.ListAPIView):
    serializer_class = PlaylistSerializer
    filterset_class = PlaylistFilter

    def get_queryset(self) -> QuerySet[Playlist]:
        return selectors.playlists_list()


@extend_schema(tags=["playlists"])
class PlaylistDetailView(generics.RetrieveAPIView):
    serializer_class = PlaylistDetailSerializer
    lookup_url_kwarg = "playlist_id"

    def get_queryset(self) -> QuerySet[Playlist]:
        return selectors.playlists_annotated(Playlist.objects.select_related("account", "policy", "current_snapshot"))


@extend_schema(tags=["playlists"])
class PlaylistHistoryView(generics.ListAPIView):
    queryset = selectors.playlist_history()
    serializer_class = PlaylistHistorySerializer
    filterset_class = PlaylistHistoryFilter


class CreateInputSerializer(RefuseUnknownFields, serializers.Serializer):
    account_id = serializers.UUIDField()
    count = serializers.IntegerField(min_value=1, max_value=settings.PLAYLISTS_PER_ACCOUNT_MAX)
    dry_run = dry_run_field()

    def validate_account_id(self, value: Any) -> SpotifyAccount:
        account = SpotifyAccount.objects.filter(pk=value).first()
        if account is None:
            raise serializers.ValidationError("No such account.")
        return account


class CreateOutputSerializer(serializers.Serializer):
    created = serializers.IntegerField()
    playlists = PlaylistSerializer(many=True)


class PlaylistCreateView(APIView):
    """Create playlists (docs/runbooks/create-reshuffle-scale-playlists.md): rows now, Spotify through queued syncs."""

    @extend_schema(
        request=CreateInputSerializer, responses={201: CreateOutputSerializer, 200: PreviewSerializer}, tags=["playlists"]
    )
    def post(self, request: Request) -> Response:
        data = CreateInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        if data.validated_data["dry_run"]:
            preview = services.create_preview(account=data.validated_data["account_id"], count=data.validated_data["count"])
            return Response({"dry_run": True, **preview})
        playlists = services.playlists_create(
            account=data.validated_data["account_id"],
            count=data.validated_data["count"],
            actor=request_actor(request, door="api"),
        )
        rows = selectors.playlists_annotated(Playlist.objects.select_related("account", "policy")).filter(
            pk__in=[p.pk for p in playlists]
        )
        body = {"created": len(playlists), "playlists": PlaylistSerializer(rows.order_by("index"), many=True).data}
        return Response(body, status=status.HTTP_201_CREATED)


class FrozenInputSerializer(RefuseUnknownFields, serializers.Serializer):
    frozen = serializers.BooleanField()


class PlaylistFrozenView(APIView):
    """Freeze or unfreeze one playlist (docs/runbooks/freeze-playlist.md): no reshuffle, no drift repair; audited."""

    @extend_schema(request=FrozenInputSerializer, responses={200: PlaylistSerializer}, tags=["playlists"])
    def post(self, request: Request, playlist_id: uuid.UUID) -> Response:
        data = FrozenInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        playlist = Playlist.objects.filter(pk=playlist_id).first()
        if playlist is None:
            raise exceptions.NotFound("No such playlist.")
        services.playlist_set_frozen(
            playlist=playlist, frozen=data.validated_data["frozen"], actor=request_actor(request, door="api")
        )
        row = selectors.playlists_annotated(Playlist.objects.select_related("account", "policy")).get(pk=playlist_id)
        return Response(PlaylistSerializer(row).data)


class ReshuffleBulkInputSerializer(RefuseUnknownFields, serializers.Serializer):
    mode = serializers.ChoiceField(choices=["account", "all", "due", "playlists"])
    account_id = serializers.UUIDField(required=False)
    ids = serializers.ListField(child=serializers.UUIDField(), required=False, max_length=10000)
    dry_run = dry_run_field()

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        mode = attrs["mode"]
        if mode == "account":
            if "account_id" not in attrs:
                raise serializers.ValidationError({"account_id": ["Required for mode=account."]})
            account = SpotifyAccount.objects.filter(pk=attrs["account_id"]).first()
            if account is None:
                raise serializers.ValidationError({"account_id": ["No such account."]})
            if reason := account.work_blocked_reason:
                raise serializers.ValidationError({"account_id": [f"Cannot reshuffle: {reason}."]})
        if mode == "playlists":
            ids = attrs.get("ids")
            if not ids:
                raise serializers.ValidationError({"ids": ["A non-empty list of playlist ids is required for mode=playlists."]})
            found = {str(pk) for pk in selectors.playlists_active().filter(pk__in=ids).values_list("pk", flat=True)}
            missing = [str(i) for i in ids if str(i) not in found]
            if missing:
                raise serializers.ValidationError({"ids": [f"Unknown or retired playlists: {', '.join(missing[:20])}"]})
        return attrs


class QueuedSerializer(serializers.Serializer):
    mode = serializers.CharField()
    queued = serializers.IntegerField()
    skipped = serializers.IntegerField()
    task_ids = serializers.ListField(child=serializers.CharField())


class PlaylistReshuffleBulkView(APIView):
    """Queue one reshuffle task per playlist (never reshuffled inside the request)."""

    @extend_schema(
        request=ReshuffleBulkInputSerializer, responses={202: QueuedSerializer, 200: PreviewSerializer}, tags=["playlists"]
    )
    def post(self, request: Request) -> Response:
        data = ReshuffleBulkInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        params = data.validated_data
        if params["dry_run"]:
            chosen = selectors.playlists_for_bulk_reshuffle(
                mode=params["mode"], account_id=params.get("account_id"), ids=params.get("ids")
            ).select_related("policy", "current_snapshot")
            return Response({"mode": params["mode"], "dry_run": True, **services.reshuffle_preview(playlists=list(chosen))})
        with transaction.atomic():
            playlists = list(
                selectors.playlists_for_bulk_reshuffle(
                    mode=params["mode"], account_id=params.get("account_id"), ids=params.get("ids")
                )
            )
            result = services.playlists_queue_reshuffle(
                playlists=playlists, actor=request_actor(request, door="api"), trigger=JobRun.Trigger.API
            )
        return Response({"mode": params["mode"], **result}, status=status.HTTP_202_ACCEPTED)


class ScaleBusy(exceptions.APIException):
    status_code = status.HTTP_409_CONFLICT
    default_detail = "A scaling run is in progress; try the dry run again in a minute."


class ScaleInputSerializer(RefuseUnknownFields, serializers.Serializer):
    dry_run = dry_run_field(default=True)  # the plan unless asked to queue the run


class PlaylistScaleView(APIView):
    """dry_run (default): the plan, computed now. Otherwise: queue scale_playlists_daily."""

    @extend_schema(request=ScaleInputSerializer, responses={200: dict, 202: dict}, tags=["playlists"])
    def post(self, request: Request) -> Response:
        data = ScaleInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        if data.validated_data["dry_run"]:
            try:
                plan = services.playlists_scale_daily(dry_run=True, actor=request_actor(request, door="api"))
            except LockBusy as exc:
                raise ScaleBusy() from exc
            return Response(plan, status=status.HTTP_200_OK)
        run = services.playlists_queue_scale(actor=request_actor(request, door="api"), trigger=JobRun.Trigger.API)
        return Response({"queued": 1, "task_ids": [run.task_id]}, status=status.HTTP_202_ACCEPTED)


class FleetCapacityView(APIView):
    """Per app, the Spotify calls the daily schedule asks for against its rate limits in each job's
    window, and the playlists it could still take (docs/runbooks/fleet-capacity.md)."""

    @extend_schema(responses=OpenApiTypes.OBJECT, tags=["playlists"])
    def get(self, request: Request) -> Response:
        return Response(services.fleet_capacity())
