"""The OpenAPI schema: generated without warnings, and fuzzed with schemathesis (no 500s)."""

from __future__ import annotations

import json
from io import StringIO
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
import schemathesis
from django.contrib.auth.models import User
from django.core.management import call_command
from django.test import Client
from drf_spectacular.generators import SchemaGenerator
from drf_spectacular.renderers import OpenApiJsonRenderer
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode

from tests.fixtures_api import api_v1_paths
from tests.fixtures_clients import client_for

pytestmark = pytest.mark.usefixtures("short_probe_timeouts")

MAX_EXAMPLES = 12


def test_schema_generation_has_no_warnings(tmp_path: Path) -> None:
    target = tmp_path / "schema.yml"
    # --fail-on-warn turns every drf-spectacular warning (untyped field, unknown path param) into an error.
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(target), stdout=StringIO(), stderr=StringIO())
    text = target.read_text()
    assert "/api/v1/job-runs" in text and "/api/v1/metric-snapshots" in text and "/api/ops/queues" in text


@pytest.mark.django_db
def test_the_schema_is_served_to_staff_only(viewer: User) -> None:
    assert Client().get("/api/schema/").status_code in (401, 403)
    assert client_for(viewer).get("/api/schema/", HTTP_ACCEPT="application/json").status_code == 200


def _schema() -> dict[str, Any]:
    generated = SchemaGenerator().get_schema(request=None, public=True)
    return json.loads(OpenApiJsonRenderer().render(generated, renderer_context={}))


def _send(client: Client, case: Any) -> Any:
    path = case.formatted_path
    if case.query:
        path += "?" + urlencode(case.query, doseq=True)
    kwargs: dict[str, Any] = {}
    if case.body is not None and not isinstance(case.body, type(schemathesis.core.NOT_SET)):
        media_type = case.media_type or "application/json"
        kwargs["content_type"] = media_type
        if isinstance(case.body, bytes | str):
            kwargs["data"] = case.body  # negative mode sends raw, possibly malformed, bodies
        else:
            kwargs["data"] = json.dumps(case.body) if "json" in media_type else case.body
    return client.generic(case.method.upper(), path, **kwargs)


@pytest.mark.django_db
@pytest.mark.slow
@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE], ids=["positive", "negative"])
def test_schemathesis_finds_no_server_error(superuser: User, settings_fixture_short_probes: None, mode: GenerationMode) -> None:
    schema = schemathesis.openapi.from_dict(_schema())
    client = client_for(superuser)
    checked = []
    for result in schema.get_all_operations():
        operation = result.ok()

        @settings(
            max_examples=MAX_EXAMPLES, deadline=None, database=None, derandomize=True,
            suppress_health_check=list(HealthCheck),
        )
        @given(case=operation.as_strategy(generation_mode=mode))
        def fuzz(case: Any) -> None:
            response = _send(client, case)
            assert response.status_code < 500, f"{case.method} {case.formatted_path} {case.query} {case.body!r} -> {response.status_code}"

        try:
            fuzz()
        except Unsatisfiable:
            # Nothing in this operation can be made invalid (no parameters, no body).
            continue
        checked.append(operation.label)
    assert len(checked) >= 10


@pytest.mark.django_db
def test_malformed_json_and_oversized_bodies_are_4xx_everywhere(operator: User, settings) -> None:  # type: ignore[no-untyped-def]
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 2048
    client = client_for(operator)
    for path in api_v1_paths():
        for body in ("{not json", json.dumps({"urls": ["x" * 4096]})):
            response = client.post(path, body, content_type="application/json")
            assert response.status_code < 500, f"POST {path} -> {response.status_code}"
