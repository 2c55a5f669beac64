"""Whatever a client puts in its Accept header, no /api/ path answers 5xx: each answers what it
renders or a 406 in the API's JSON. Every path the URL resolver has, GET by a superuser, with
rows in every list (so the lists' PostgreSQL-written rows meet the indented renderer) and real
ids where the path takes one."""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.urls import URLPattern, URLResolver, get_resolver

from accounts.models import SpotifyAccount
from bench.fleet import FleetSizes, fleet_populate
from playlists.models import Playlist
from spotify.connectors import connector_settings_seed
from spotify.models import ConnectorSetting
from tests.fixtures_clients import client_for

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("short_probe_timeouts")]

ACCEPTS = [
    "application/json; indent=2",
    "application/json; charset=utf-8",
    "application/json; version=1",
    "*/*",
    "*/*; indent=4",
    "text/html",
    "application/xml",
    "nonsense",
]


def _routes(patterns: list[URLPattern | URLResolver], prefix: str = "") -> Iterator[str]:
    for pattern in patterns:
        route = prefix + str(pattern.pattern)
        if isinstance(pattern, URLResolver):
            yield from _routes(pattern.url_patterns, route)
        else:
            yield route


def api_paths(ids: dict[str, str]) -> list[str]:
    """Every /api/ route, a parameter filled with a row's id when there is one, else a bogus one."""
    bogus = {"uuid": str(uuid.uuid4()), "int": "999999", "str": "x"}

    def fill(match: re.Match[str]) -> str:
        converter, name = match.group(1) or "str", match.group(2)
        return ids.get(name, bogus.get(converter, "x"))

    paths = {"/" + re.sub(r"<(?:(\w+):)?(\w+)>", fill, route) for route in _routes(get_resolver().url_patterns)}
    return sorted(path for path in paths if path.startswith("/api/"))


@pytest.fixture
def rows() -> dict[str, str]:
    fleet_populate(sizes=FleetSizes.uniform(3))
    connector_settings_seed()
    return {
        "account_id": str(SpotifyAccount.objects.values_list("pk", flat=True)[0]),
        "playlist_id": str(Playlist.objects.values_list("pk", flat=True)[0]),
        "name": ConnectorSetting.objects.values_list("name", flat=True)[0],
    }


@pytest.mark.parametrize("accept", ACCEPTS)
def test_no_api_path_answers_5xx_whatever_the_accept_header(superuser: User, rows: dict[str, str], accept: str) -> None:
    client = client_for(superuser)
    paths = api_paths(rows)
    assert {"/api/v1/tracks", "/api/v1/accounts/list", "/api/v1/dlq/messages", "/api/schema/", "/api/health"} <= set(paths)
    wrong: list[str] = []
    for path in paths:
        response = client.get(path, HTTP_ACCEPT=accept)
        body = b"".join(response.streaming_content) if response.streaming else response.content
        if response.status_code >= 500:
            wrong.append(f"{path}: {response.status_code}")
        elif response.status_code == 406 and not _is_json(response, body):
            wrong.append(f"{path}: 406 as {response.get('Content-Type')}: {body[:80]!r}")
        elif response.get("Content-Type", "").startswith("application/json") and not _is_json(response, body):
            wrong.append(f"{path}: {response.status_code} says JSON but is not: {body[:80]!r}")
    assert not wrong, f"Accept: {accept}\n" + "\n".join(wrong)


def _is_json(response: Any, body: bytes) -> bool:
    if not response.get("Content-Type", "").startswith("application/json"):
        return False
    try:
        json.loads(body)
    except ValueError:
        return False
    return True
