"""The tracks list's rows are written by PostgreSQL (core.rows); they say exactly what TrackSerializer says."""

from __future__ import annotations

from datetime import timedelta

import orjson
import pytest
from django.contrib.auth.models import User
from django.utils import timezone

from core.rows import json_rows
from ingest.models import Track
from ingest.selectors import tracks_list
from ingest.serializers import TrackSerializer
from tests.factories import TrackFactory
from tests.fixtures_clients import client_for

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("short_probe_timeouts")]


def _variety() -> None:
    now = timezone.now()
    TrackFactory(audio_features={"energy": 0.5, "tempo": 120.0}, features_fetched_at=now, isrc="USRC17607839", explicit=True)
    TrackFactory(
        audio_features=None,
        features_unavailable_until=now + timedelta(days=7),
        quality_score=40,
        quality_tier="poor",
        quality_issues=["no_isrc", "no_features"],
    )
    TrackFactory(name="Ünïcode “quoted” \\ track", duration_ms=0, disc_number=2, track_number=12)
    fetched = now.replace(microsecond=0)
    TrackFactory(features_fetched_at=fetched, audio_features={})


def test_rows_match_the_model_serializer_field_for_field() -> None:
    _variety()
    expected = TrackSerializer(tracks_list(), many=True).data
    actual = [orjson.loads(text) for text in json_rows(tracks_list(), TrackSerializer)]
    assert [dict(row) for row in expected] == actual
    assert list(actual[0]) == list(TrackSerializer().fields)


def test_the_list_endpoint_answers_the_serializer_output(viewer: User) -> None:
    _variety()
    body = client_for(viewer).get("/api/v1/tracks?page_size=3").json()
    assert body["count"] == Track.objects.count() == 4
    expected = TrackSerializer(tracks_list()[:3], many=True).data
    assert body["results"] == [dict(row) for row in expected]
    assert client_for(viewer).get(body["next"]).json()["results"][0]["spotify_id"] == tracks_list()[3].spotify_id
