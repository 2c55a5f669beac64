"""Ingest, tracks and dead letters under /api/v1/ (staff; operators write)."""

from __future__ import annotations

from collections import Counter

from django.db.models import QuerySet
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, PolymorphicProxySerializer, extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.generics import ListAPIView
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from core.actors import request_actor
from core.pagination import FirstRowsPagination
from core.rows import JsonRowsListMixin
from core.serializers import PreviewSerializer, refuse_body
from core.stepup import DestructiveEndpoint
from ingest import selectors, services
from ingest.filters import DeadLetterFilter, TrackFilter
from ingest.models import DeadLetter, Track
from ingest.quality import tracks_low_quality_ids, tracks_reenrich
from ingest.serializers import (
    AlbumSubmitSerializer,
    DeadLetterGroupSerializer,
    DeadLetterSerializer,
    DeadLetterStatsSerializer,
    GroupedQuerySerializer,
    PurgeBeforeSerializer,
    ReplayRequestSerializer,
    ReplayResponseSerializer,
    SubmitResponseSerializer,
    TrackSerializer,
    TracksReenrichSerializer,
)


class AlbumSubmitView(APIView):
    @extend_schema(
        request=AlbumSubmitSerializer,
        responses={201: SubmitResponseSerializer, 200: SubmitResponseSerializer, 207: SubmitResponseSerializer},
        summary="Queue album URLs/URIs",
        description="One result per input, in order: `accepted`, `duplicate` or `invalid` with the reason. "
        "201 when every input was accepted, 200 when nothing new was queued and nothing was invalid, 207 otherwise.",
        tags=["ingest"],
    )
    def post(self, request: Request) -> Response:
        serializer = AlbumSubmitSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        results = services.album_sources_submit(
            raw_inputs=serializer.validated_data["urls"], submitted_by=request_actor(request, door="api")
        )
        counts = Counter(r.status for r in results)
        body = {
            "counts": {name: counts.get(name, 0) for name in ("accepted", "duplicate", "invalid")},
            "results": [r.__dict__ for r in results],
        }
        code: int
        if counts["accepted"] == len(results):
            code = status.HTTP_201_CREATED
        elif not counts["accepted"] and not counts["invalid"]:
            code = status.HTTP_200_OK
        else:
            code = status.HTTP_207_MULTI_STATUS
        return Response(SubmitResponseSerializer(body).data, status=code)


@extend_schema(tags=["tracks"])
class TrackListView(JsonRowsListMixin, ListAPIView):
    serializer_class = TrackSerializer
    filterset_class = TrackFilter

    def get_queryset(self) -> QuerySet[Track]:
        return selectors.tracks_list()


class DeadLetterStatsView(APIView):
    @extend_schema(responses=DeadLetterStatsSerializer, tags=["dead letters"])
    def get(self, request: Request) -> Response:
        return Response(DeadLetterStatsSerializer(selectors.dead_letter_stats()).data)


class DeadLetterErrorsGroupedView(APIView):
    @extend_schema(
        parameters=[GroupedQuerySerializer],
        responses={200: OpenApiTypes.OBJECT},
        description="`{error_type: count}` over pending dead letters; with `?detail=true` a list of groups "
        "(error type, service, count, first/last seen, sample messages).",
        tags=["dead letters"],
    )
    def get(self, request: Request) -> Response:
        query = GroupedQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        if query.validated_data["detail"]:
            return Response({"groups": DeadLetterGroupSerializer(selectors.dead_letter_errors_grouped_detail(), many=True).data})
        return Response(selectors.dead_letter_errors_grouped())


class DeadLetterMessagesPagination(FirstRowsPagination):
    rows_key = "messages"


@extend_schema(tags=["dead letters"])
class DeadLetterMessagesView(JsonRowsListMixin, ListAPIView):
    """Pending dead letters, the most recently seen first."""

    serializer_class = DeadLetterSerializer
    filterset_class = DeadLetterFilter
    pagination_class = DeadLetterMessagesPagination

    def get_queryset(self) -> QuerySet[DeadLetter]:
        return selectors.dead_letter_messages()


class DeadLetterReplayBatchView(APIView):
    @extend_schema(
        request=ReplayRequestSerializer,
        responses={
            200: PolymorphicProxySerializer(
                component_name="ReplayOrPreview",
                serializers=[ReplayResponseSerializer, PreviewSerializer],
                resource_type_field_name=None,
            )
        },
        tags=["dead letters"],
    )
    def post(self, request: Request) -> Response:
        serializer = ReplayRequestSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        if serializer.validated_data["dry_run"]:
            preview = services.dead_letters_replay_preview(batch_size=serializer.validated_data["batch_size"])
            return Response({"dry_run": True, **preview})
        result = services.dead_letters_replay(
            batch_size=serializer.validated_data["batch_size"], actor=request_actor(request, door="api")
        )
        return Response(ReplayResponseSerializer(result).data)


# Destructive: a browser session needs a recent sign-in (core.stepup); tokens are not asked.
class DeadLetterPurgeBeforeView(DestructiveEndpoint, APIView):
    @extend_schema(
        parameters=[OpenApiParameter("before", OpenApiTypes.DATE, OpenApiParameter.PATH, description="YYYY-MM-DD (UTC)")],
        responses=inline_serializer(
            "DeadLetterPurged", {"purged_count": serializers.IntegerField(), "before": serializers.DateField()}
        ),
        description="Purge pending dead letters last seen before the date (00:00 UTC).",
        tags=["dead letters"],
    )
    def delete(self, request: Request, before: str) -> Response:
        refuse_body(request)
        serializer = PurgeBeforeSerializer(data={"before": before})
        serializer.is_valid(raise_exception=True)
        day = serializer.validated_data["before"]
        count = services.dead_letters_purge_before(before=day, actor=request_actor(request, door="api"))
        return Response({"purged_count": count, "before": day.isoformat()})


class TracksReenrichView(APIView):
    @extend_schema(
        request=TracksReenrichSerializer,
        responses={
            202: inline_serializer(
                "TracksReenriched", {"queued": serializers.IntegerField(), "task_id": serializers.CharField(allow_null=True)}
            )
        },
        description="Operators only. Batch re-enrichment (docs/runbooks/data-quality.md): the tracks (given ids, or the worst of a "
        "quality tier) are asked for audio features again by one `fetch_audio_features` run (its task id).",
        tags=["tracks"],
    )
    def post(self, request: Request) -> Response:
        from jobs.models import JobRun

        serializer = TracksReenrichSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        ids = data.get("track_ids") or tracks_low_quality_ids(tier=data["quality"], limit=data["limit"])
        count, run = tracks_reenrich(track_ids=ids, actor=request_actor(request, door="api"), trigger=JobRun.Trigger.API)
        return Response({"queued": count, "task_id": run.task_id if run else None}, status=status.HTTP_202_ACCEPTED)
