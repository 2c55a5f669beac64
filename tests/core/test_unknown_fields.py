"""Every write endpoint of the API refuses a body key it does not take with a 400 naming it
(core/serializers.py), before it looks anything up or does anything: walked from the OpenAPI
schema, so an endpoint added without the rule fails here."""

from __future__ import annotations

import json
import re
import uuid
from typing import Any

import pytest
from django.contrib.auth.models import User
from drf_spectacular.generators import SchemaGenerator

from accounts.models import SpotifyAccount
from alerts.models import AlertSilence
from audit.models import AuditEvent
from bench.fleet import FleetSizes, fleet_populate
from jobs.models import JobRun
from playlists.models import Playlist
from spotify.connectors import connector_settings_seed
from spotify.models import ConnectorSetting
from tests.fixtures_clients import client_for

pytestmark = pytest.mark.django_db

WRITE_METHODS = ("post", "put", "patch", "delete")
UNKNOWN = "surely_not_a_field"


def write_operations() -> list[tuple[str, str]]:
    schema = SchemaGenerator().get_schema(request=None, public=True)
    return sorted(
        (method, path) for path, operations in schema["paths"].items() for method in operations if method in WRITE_METHODS
    )


@pytest.fixture
def ids() -> dict[str, str]:
    fleet_populate(sizes=FleetSizes.uniform(3))
    connector_settings_seed()
    return {
        "account_id": str(SpotifyAccount.objects.values_list("pk", flat=True)[0]),
        "playlist_id": str(Playlist.objects.values_list("pk", flat=True)[0]),
        "name": ConnectorSetting.objects.values_list("name", flat=True)[0],
        "before": "2026-01-01",
    }


def _fill(path: str, ids: dict[str, str]) -> str:
    return re.sub(r"\{(\w+)\}", lambda m: ids.get(m.group(1), "999999"), path)


def test_every_write_endpoint_refuses_an_unknown_body_field_by_name_and_does_nothing(
    superuser: User, ids: dict[str, str]
) -> None:
    operations = write_operations()
    assert ("post", "/api/v1/playlists/reshuffle-bulk") in operations and len(operations) >= 25
    client = client_for(superuser)
    audit_before, runs_before = AuditEvent.objects.count(), JobRun.objects.count()
    wrong: list[tuple[str, str, int, Any]] = []
    for method, path in operations:
        response = getattr(client, method)(
            _fill(path, ids), data=json.dumps({UNKNOWN: 1}), content_type="application/json", HTTP_ACCEPT="application/json"
        )
        body = response.json()
        if response.status_code != 400 or UNKNOWN not in body.get("errors", {}):
            wrong.append((method, path, response.status_code, body))
    assert wrong == []
    # Refused before anything happened: no operator action recorded, no job queued.
    assert (AuditEvent.objects.count(), JobRun.objects.count()) == (audit_before, runs_before)


def test_a_dry_run_asked_of_a_door_without_one_is_refused_not_run(superuser: User, ids: dict[str, str]) -> None:
    # Creating a silence has no preview: a client asking for one must not have it created instead.
    silences_before = AlertSilence.objects.count()
    response = client_for(superuser).post(
        "/api/v1/alert-silences",
        {"rule": "BeatGone", "ends_at": "2099-01-01T00:00:00Z", "reason": "maintenance", "dry_run": True},
        content_type="application/json",
    )
    assert response.status_code == 400
    assert response.json() == {
        "detail": "Invalid input.",
        "errors": {"dry_run": ["Unknown field: this endpoint does not take it."]},
    }
    assert AlertSilence.objects.count() == silences_before


def test_a_read_only_field_is_named_as_such_and_an_endpoint_without_a_body_takes_none(superuser: User) -> None:
    client = client_for(superuser)
    refused = client.post(
        "/api/v1/alert-silences",
        {"id": 7, "created_by": "someone else", "ends_at": "2099-01-01T00:00:00Z", "reason": "maintenance"},
        content_type="application/json",
    )
    assert refused.status_code == 400
    read_only = ["Read-only field: it cannot be set here."]
    assert refused.json()["errors"] == {"id": read_only, "created_by": read_only}
    # Without a body the rule lets the request through to the endpoint's own answer.
    missing = client.post(f"/api/v1/queues/{uuid.uuid4().hex}/pause", content_type="application/json")
    assert missing.status_code == 404
