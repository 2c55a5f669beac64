"""Under /api/ every unmatched path and wrong method answers JSON in the shape of every other
API error; the rest of the site keeps Django's own pages."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver

from tests.fixtures_clients import client_for

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("short_probe_timeouts")]

METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE"]
_SAMPLES = {"uuid": str(uuid.uuid4()), "int": "1", "str": "x", "slug": "x", "path": "x"}


def _api_views(patterns: list[URLPattern | URLResolver], prefix: str = "") -> Iterator[tuple[str, type]]:
    """(concrete path, DRF view class) for every route under api/."""
    for pattern in patterns:
        route = prefix + str(pattern.pattern)
        if isinstance(pattern, URLResolver):
            yield from _api_views(pattern.url_patterns, route)
        elif route.startswith("api/") and hasattr(pattern.callback, "cls"):
            concrete = re.sub(r"<(?:(\w+):)?\w+>", lambda m: _SAMPLES.get(m.group(1) or "str", "x"), route)
            yield "/" + concrete, pattern.callback.cls


def _assert_json_error(response, status: int) -> dict:  # type: ignore[no-untyped-def]
    assert response.status_code == status, (response.status_code, response.content[:200])
    assert response["Content-Type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"detail", "errors"}, body
    assert isinstance(body["detail"], str) and body["detail"]
    assert body["errors"] == {}
    return body


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "/api/v1/accounts/refresh/not-a-uuid"),
        ("GET", "/api/v1/playlists/not-a-uuid"),
        ("GET", "/api/v1/no-such-endpoint"),
        ("DELETE", "/api/v1/accounts/not-a-uuid"),
        ("GET", "/api/v2/accounts/list"),
        ("GET", "/api/"),
        ("PUT", "/api/whatever/deeper/still"),
    ],
)
def test_unmatched_api_paths_answer_json_404(superuser: User, method: str, path: str) -> None:
    for client in (client_for(superuser), Client()):
        body = _assert_json_error(client.generic(method, path), 404)
        assert body["detail"] == "Not found."


def test_every_api_route_answers_json_405_for_each_method_it_does_not_serve(superuser: User) -> None:
    client = client_for(superuser)
    checked = 0
    for path, view_class in _api_views(get_resolver().url_patterns):
        allowed = {method.upper() for method in view_class.http_method_names if hasattr(view_class, method)}
        for method in METHODS:
            if method in allowed:
                continue
            response = client.generic(method, path, data="{}", content_type="application/json")
            body = _assert_json_error(response, 405)
            assert body["detail"] == f'Method "{method}" not allowed.'
            assert set(response["Allow"].replace(" ", "").split(",")) >= allowed - {"OPTIONS"}
            checked += 1
    assert checked > 40


def test_plain_django_views_under_api_answer_json_405_too() -> None:
    response = Client().post("/api/health")
    body = _assert_json_error(response, 405)
    assert body["detail"] == 'Method "POST" not allowed.'
    assert response["Allow"] == "GET"


def test_an_api_path_missing_its_slash_still_redirects() -> None:
    response = Client().get("/api/docs")
    assert response.status_code == 301
    assert response["Location"] == "/api/docs/"


def test_paths_outside_the_api_keep_djangos_pages(superuser: User) -> None:
    response = client_for(superuser).get("/admin/no-such-page/")
    assert response.status_code == 404
    assert response["Content-Type"].startswith("text/html")
    response = Client().post("/health")
    assert response.status_code == 405
    assert not response["Content-Type"].startswith("application/json")
