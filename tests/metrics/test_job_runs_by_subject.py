"""Job history by subject: every run that touched a playlist, an account or an album source,
in the API (with args/kwargs), the admin search, and as a streamed CSV."""

from __future__ import annotations

import csv
import io
import uuid

import pytest
from django.contrib.auth.models import User
from django.db import connection
from django.test.utils import CaptureQueriesContext

from jobs.models import JobRun
from tests.fixtures_clients import client_for, token_client

pytestmark = pytest.mark.django_db

PLAYLIST, OTHER, ACCOUNT = str(uuid.uuid4()), str(uuid.uuid4()), str(uuid.uuid4())


def _run(n: int, subject: dict, **extra: object) -> JobRun:
    return JobRun.objects.create(
        job_name="playlist_sync_one",
        task_name="playlist_sync_one",
        task_id=f"t-{n}",
        subject=subject,
        kwargs={"playlist_id": subject.get("playlist", "")},
        **extra,
    )


@pytest.fixture
def runs() -> list[JobRun]:
    return [
        _run(1, {"playlist": PLAYLIST, "account": ACCOUNT}),
        _run(2, {"playlist": PLAYLIST, "account": ACCOUNT}, status="failed", error="boom"),
        _run(3, {"playlist": OTHER, "account": str(uuid.uuid4())}),
        _run(4, {"accounts": [ACCOUNT, str(uuid.uuid4())]}),  # a fleet-wide token refresh
        _run(5, {"album_sources": [7, 8]}),
    ]


def test_the_api_finds_every_run_that_touched_a_playlist_or_an_account(runs: list[JobRun], viewer: User) -> None:
    client = token_client(viewer)
    by_playlist = client.get("/api/v1/job-runs", {"playlist": PLAYLIST}).json()["results"]
    assert sorted(r["task_id"] for r in by_playlist) == ["t-1", "t-2"]
    assert by_playlist[0]["kwargs"] == {"playlist_id": PLAYLIST} and by_playlist[0]["args"] == []
    by_account = client.get("/api/v1/job-runs", {"account": ACCOUNT}).json()["results"]
    assert sorted(r["task_id"] for r in by_account) == ["t-1", "t-2", "t-4"]
    assert [r["task_id"] for r in client.get("/api/v1/job-runs", {"album_source": 8}).json()["results"]] == ["t-5"]
    assert "playlist" in client.get("/api/v1/job-runs", {"playlist": "not-a-uuid"}).json()["errors"]


def test_job_runs_pages_cost_the_same_queries_whatever_their_size(runs: list[JobRun], viewer: User) -> None:
    client = token_client(viewer)
    client.get("/api/v1/job-runs", {"account": ACCOUNT})  # warm the token cache
    with CaptureQueriesContext(connection) as few:
        client.get("/api/v1/job-runs", {"account": ACCOUNT, "page_size": 1})
    with CaptureQueriesContext(connection) as more:
        client.get("/api/v1/job-runs", {"account": ACCOUNT, "page_size": 50})
    assert len(more) == len(few)


def test_the_admin_search_finds_runs_by_playlist_and_by_album_source(runs: list[JobRun], superuser: User) -> None:
    client = client_for(superuser)
    page = client.get("/admin/jobs/jobrun/", {"q": PLAYLIST})
    assert {run.task_id for run in page.context["cl"].result_list} == {"t-1", "t-2"}
    page = client.get("/admin/jobs/jobrun/", {"q": "source:7"})
    assert {run.task_id for run in page.context["cl"].result_list} == {"t-5"}


def test_a_filtered_list_exports_as_streamed_csv(runs: list[JobRun], viewer: User, superuser: User) -> None:
    response = token_client(viewer).get("/api/v1/job-runs", {"playlist": PLAYLIST, "format": "csv"})
    assert response.status_code == 200 and response.streaming
    assert response["Content-Type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert sorted(row["task_id"] for row in rows) == ["t-1", "t-2"]
    failed = next(row for row in rows if row["task_id"] == "t-2")
    assert failed["status"] == "failed" and failed["error"] == "boom" and PLAYLIST in failed["subject"]

    admin = client_for(superuser).post(
        "/admin/jobs/jobrun/", {"action": "export_csv", "_selected_action": [runs[4].pk, runs[3].pk]}
    )
    exported = list(csv.DictReader(io.StringIO(b"".join(admin.streaming_content).decode())))
    assert sorted(row["task_id"] for row in exported) == ["t-4", "t-5"]
