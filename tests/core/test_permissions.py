"""Who may call what: anonymous / staff without group / viewer / operator / superuser."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group, User
from django.test import Client

from tests.fixtures_api import api_v1_paths
from tests.fixtures_clients import client_for, token_client

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("short_probe_timeouts")]

ROLES = ["anonymous", "staff_plain", "viewer", "operator", "superuser"]
DENIED = {401, 403}

# (method, path) -> expected status per role, in ROLES order. "min"/"full": health payloads.
MATRIX: list[tuple[str, str, list[object]]] = [
    ("get", "/api/v1/job-runs", [DENIED, 403, 200, 200, 200]),
    ("get", "/api/v1/metric-snapshots?range=7d", [DENIED, 403, 200, 200, 200]),
    ("post", "/api/v1/job-runs", [DENIED, 403, 403, 405, 405]),
    ("delete", "/api/v1/metric-snapshots", [DENIED, 403, 403, 405, 405]),
    ("get", "/api/ops/queues", [DENIED, 403, 200, 200, 200]),
    ("post", "/api/ops/queues", [DENIED, 403, 403, 405, 405]),
    ("get", "/metrics", [403, 200, 200, 200, 200]),
    ("get", "/health", ["min", "full", "full", "full", "full"]),
    ("get", "/api/health", ["min", "full", "full", "full", "full"]),
    ("get", "/admin/metrics/metricsnapshot/dashboard/", [302, 403, 200, 200, 200]),
]


@pytest.fixture
def users(staff_plain: User, viewer: User, operator: User, superuser: User) -> dict[str, User | None]:
    return {"anonymous": None, "staff_plain": staff_plain, "viewer": viewer, "operator": operator, "superuser": superuser}


def _matches(response, expected: object) -> bool:  # type: ignore[no-untyped-def]
    if expected == "min":
        return response.status_code == 200 and set(response.json()) == {"status"}
    if expected == "full":
        return response.status_code == 200 and {"checks", "ingestion", "jobs"} <= set(response.json())
    if isinstance(expected, set):
        return response.status_code in expected
    return response.status_code == expected


@pytest.mark.parametrize(("method", "path", "expected"), MATRIX, ids=[f"{m} {p}" for m, p, _ in MATRIX])
def test_permission_matrix(users: dict[str, User | None], method: str, path: str, expected: list[object]) -> None:
    for role, want in zip(ROLES, expected, strict=True):
        response = getattr(client_for(users[role]), method)(path)
        assert _matches(response, want), f"{role}: {method.upper()} {path} -> {response.status_code}, expected {want}"


def test_viewer_token_reads_and_cannot_write(viewer: User) -> None:
    client = token_client(viewer)
    assert client.get("/api/v1/job-runs").status_code == 200
    assert client.post("/api/v1/job-runs", {}, content_type="application/json").status_code == 403


def test_groups_exist_with_read_and_act_permissions() -> None:
    operators = set(Group.objects.get(name="operators").permissions.values_list("codename", flat=True))
    viewers = set(Group.objects.get(name="viewers").permissions.values_list("codename", flat=True))
    assert {"view_jobrun", "view_metricsnapshot", "view_spotifyaccount", "view_deadletter", "view_periodictask"} <= viewers
    assert not {codename for codename in viewers if not codename.startswith("view_")}
    assert {"change_spotifyaccount", "change_playlist", "change_periodictask", "delete_deadletter"} <= operators
    assert viewers <= operators
    # Accounts are deactivated and playlists retired, never deleted, even by operators.
    assert not {"delete_spotifyaccount", "delete_playlist", "delete_jobrun"} & operators


# --- every endpoint under /api/v1/, whoever adds it --------------------------------------


def test_the_api_has_endpoints_to_check() -> None:
    assert {"/api/v1/job-runs", "/api/v1/metric-snapshots", "/api/v1/jobs/list"} <= set(api_v1_paths())


@pytest.mark.parametrize("method", ["get", "post", "put", "patch", "delete"])
def test_anonymous_never_gets_data_from_any_api_endpoint(method: str) -> None:
    client = Client()
    for path in api_v1_paths():
        response = getattr(client, method)(path, content_type="application/json")
        assert response.status_code in (401, 403, 405), f"{method.upper()} {path} -> {response.status_code}"
        if response.get("Content-Type", "").startswith("application/json"):
            assert set(response.json()) <= {"detail", "errors"}, f"{method.upper()} {path} leaked {response.json()}"


@pytest.mark.parametrize("method", ["post", "put", "patch", "delete"])
def test_a_viewer_gets_403_on_every_write(viewer: User, method: str) -> None:
    client = client_for(viewer)
    for path in api_v1_paths():
        response = getattr(client, method)(path, {}, content_type="application/json")
        assert response.status_code in (403, 405), f"{method.upper()} {path} -> {response.status_code}"
        assert not 200 <= response.status_code < 300
