"""The API lists serialize `.values()` rows (core.rows); each must answer exactly what its
ModelSerializer answers for the same rows, so the serializers stay true to the schema."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.contrib.auth.models import User
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.test import APIRequestFactory

from accounts.api import AccountListView
from bench.fleet import FleetSizes, fleet_populate
from ingest.api import TrackListView
from ingest.selectors import dead_letter_messages
from ingest.serializers import DeadLetterSerializer
from jobs.api import JobRunListView
from playlists.api import PlaylistListView
from tests.fixtures_clients import client_for

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("short_probe_timeouts")]

LISTS = [
    ("/api/v1/accounts/list", AccountListView),
    ("/api/v1/playlists", PlaylistListView),
    ("/api/v1/tracks", TrackListView),
    ("/api/v1/job-runs", JobRunListView),
]


def _json(data: Any) -> Any:
    return json.loads(JSONRenderer().render(data))


def _serializer_output(view_class: Any, path: str) -> list[dict[str, Any]]:
    view = view_class()
    view.request = Request(APIRequestFactory().get(path))
    view.kwargs = {}
    return _json(view_class.serializer_class(view.get_queryset()[:200], many=True).data)


@pytest.mark.parametrize(("path", "view_class"), LISTS)
def test_each_list_answers_its_serializers_output(viewer: User, path: str, view_class: Any) -> None:
    fleet_populate(sizes=FleetSizes.uniform(12))
    body = client_for(viewer).get(f"{path}?page_size=200").json()
    assert len(body["results"]) == 12
    assert body["results"] == _serializer_output(view_class, path)


def test_dead_letter_messages_answer_the_serializers_output(viewer: User) -> None:
    fleet_populate(sizes=FleetSizes.uniform(12))
    body = client_for(viewer).get("/api/v1/dlq/messages?limit=200").json()
    expected = _json(DeadLetterSerializer(dead_letter_messages(limit=200), many=True).data)
    assert body["messages"] == expected and body["count"] == len(expected) > 0
