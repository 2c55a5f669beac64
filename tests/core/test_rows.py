"""The API lists PostgreSQL writes (core.rows) answer what the OpenAPI schema documents for them:
every field of the serializer, in its order, each of its documented type, at any page size."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.contrib.auth.models import User
from drf_spectacular.generators import SchemaGenerator
from drf_spectacular.renderers import OpenApiJsonRenderer
from jsonschema import Draft202012Validator

from bench.fleet import FleetSizes, fleet_populate
from tests.fixtures_clients import client_for

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("short_probe_timeouts")]

# path, the key of its rows, its row's component in the schema
LISTS = [
    ("/api/v1/accounts/list?page_size=200", "results", "Account"),
    ("/api/v1/playlists?page_size=200", "results", "Playlist"),
    ("/api/v1/tracks?page_size=200", "results", "Track"),
    ("/api/v1/job-runs?page_size=200", "results", "JobRun"),
    ("/api/v1/dlq/messages?limit=200", "messages", "DeadLetter"),
]


@pytest.fixture(scope="module")
def components() -> dict[str, Any]:
    generated = SchemaGenerator().get_schema(request=None, public=True)
    schema: dict[str, Any] = json.loads(OpenApiJsonRenderer().render(generated, renderer_context={}))
    return schema["components"]["schemas"]


def _json_schema(schema: dict[str, Any], components: dict[str, Any]) -> dict[str, Any]:
    """An OpenAPI 3.0 schema as JSON Schema: references resolved, `nullable` as a null type."""
    if "$ref" in schema:
        return _json_schema(components[schema["$ref"].rsplit("/", 1)[-1]], components)
    out = {key: value for key, value in schema.items() if key not in ("nullable", "readOnly", "writeOnly", "description")}
    if "properties" in out:
        out["properties"] = {name: _json_schema(value, components) for name, value in out["properties"].items()}
    if isinstance(out.get("items"), dict):
        out["items"] = _json_schema(out["items"], components)
    if isinstance(out.get("additionalProperties"), dict):
        out["additionalProperties"] = _json_schema(out["additionalProperties"], components)
    for key in ("oneOf", "anyOf", "allOf"):
        if key in out:
            out[key] = [_json_schema(part, components) for part in out[key]]
    return {"anyOf": [out, {"type": "null"}]} if schema.get("nullable") else out


def _row_schema(name: str, components: dict[str, Any]) -> dict[str, Any]:
    """The component a row is documented by, every property present and none other."""
    row = _json_schema(components[name], components)
    return {**row, "required": list(row["properties"]), "additionalProperties": False}


@pytest.mark.parametrize(("path", "key", "component"), LISTS)
def test_each_list_answers_the_rows_its_schema_documents(
    viewer: User, components: dict[str, Any], path: str, key: str, component: str
) -> None:
    fleet_populate(sizes=FleetSizes.uniform(12))
    rows = client_for(viewer).get(path).json()[key]
    assert rows
    schema = _row_schema(component, components)
    validator = Draft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER)
    for row in rows:
        assert list(row) == list(components[component]["properties"])
        errors = sorted(validator.iter_errors(row), key=str)
        assert not errors, f"{component} {row.get('id', row)}: {[error.message for error in errors]}"
