from __future__ import annotations

from datetime import timedelta
from io import StringIO

import pytest
from django.contrib.auth.models import User
from django.core.management import CommandError, call_command
from django.test import Client
from django.utils import timezone

from core.models import ApiToken
from jobs.models import JobRun
from metrics.models import MetricSnapshot
from tests.fixtures_clients import client_for

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("short_probe_timeouts")]


def _run(task_id: str, job: str, status: str, trigger: str, started: object) -> JobRun:
    return JobRun.objects.create(job_name=job, task_name=job, task_id=task_id, status=status, trigger=trigger, started_at=started)


def test_job_runs_filter_by_job_status_trigger_and_date(viewer: User) -> None:
    now = timezone.now()
    _run("a", "refresh_tokens", "success", "schedule", now)
    _run("b", "refresh_tokens", "failed", "api", now - timedelta(days=1))
    _run("c", "retention", "failed", "admin", now)
    client = client_for(viewer)

    def ids(query: str) -> list[str]:
        response = client.get(f"/api/v1/job-runs{query}")
        assert response.status_code == 200, response.json()
        return [row["task_id"] for row in response.json()["results"]]

    assert ids("") == ["c", "a", "b"]  # newest first
    assert set(ids("?job=refresh_tokens")) == {"a", "b"}
    assert ids("?status=failed&trigger=api") == ["b"]
    assert set(ids(f"?date={now.date().isoformat()}")) == {"a", "c"}
    assert ids(f"?job=retention&date={(now - timedelta(days=1)).date().isoformat()}") == []
    assert client.get("/api/v1/job-runs?page_size=1").json()["count"] == 3


@pytest.mark.parametrize(
    ("query", "field"),
    [("?status=exploded", "status"), ("?trigger=cron", "trigger"), ("?date=yesterday", "date"), ("?since=2026-02-30T00:00", "since")],
)
def test_job_runs_bad_filters_are_400_with_field_errors(viewer: User, query: str, field: str) -> None:
    response = client_for(viewer).get(f"/api/v1/job-runs{query}")
    assert response.status_code == 400
    assert field in response.json()["errors"]


def test_metric_snapshots_by_range_oldest_first(viewer: User) -> None:
    now = timezone.now()
    for hours in (1, 30, 24 * 20, 24 * 40):
        MetricSnapshot.objects.create(taken_at=now - timedelta(hours=hours), tracks_total=hours)
    client = client_for(viewer)

    def totals(query: str) -> list[int]:
        return [row["tracks_total"] for row in client.get(f"/api/v1/metric-snapshots{query}").json()["results"]]

    assert totals("") == [1]
    assert totals("?range=7d") == [30, 1]
    assert totals("?range=30d") == [480, 30, 1]
    bad = client.get("/api/v1/metric-snapshots?range=1y")
    assert bad.status_code == 400 and "range" in bad.json()["errors"]


def _mint(*args: str) -> str:
    out = StringIO()
    call_command("create_api_token", *args, stdout=out, stderr=StringIO())
    return out.getvalue()


def test_create_api_token_prints_a_working_key_once_and_rotates_and_revokes(viewer: User) -> None:
    printed = _mint("victor")
    key = printed.strip()
    assert printed == f"{key}\n", "only the key, on stdout"
    token = ApiToken.objects.get(user=viewer)
    assert token.digest == ApiToken.digest_of(key) and key.startswith(token.prefix)
    assert Client(HTTP_AUTHORIZATION=f"Bearer {key}").get("/api/v1/job-runs").status_code == 200

    # The key is never shown again: a second run mints a second token.
    second = _mint("victor").strip()
    assert second != key and ApiToken.objects.filter(user=viewer, revoked_at__isnull=True).count() == 2

    rotated = _mint("victor", "--rotate").strip()
    assert rotated not in (key, second)
    refused = Client(HTTP_AUTHORIZATION=f"Token {key}").get("/api/v1/job-runs")
    assert refused.status_code == 401 and "revoked" in refused.json()["detail"]
    assert Client(HTTP_AUTHORIZATION=f"Token {rotated}").get("/api/v1/job-runs").status_code == 200

    assert _mint("victor", "--revoke") == ""
    assert not ApiToken.objects.filter(user=viewer, revoked_at__isnull=True).exists()
    assert Client(HTTP_AUTHORIZATION=f"Token {rotated}").get("/api/v1/job-runs").status_code == 401


def test_create_api_token_refuses_unknown_and_non_staff_users(nonstaff: User) -> None:
    with pytest.raises(CommandError, match="No user"):
        call_command("create_api_token", "ghost", stdout=StringIO(), stderr=StringIO())
    with pytest.raises(CommandError, match="not an active staff user"):
        call_command("create_api_token", "nora", stdout=StringIO(), stderr=StringIO())
    assert not ApiToken.objects.exists()
