"""The run timeline (jobs.selectors.job_runs_gantt, the admin's Run timeline page): a row per
job, a bar per run over the window, overlapping runs of a job on lanes of their own, one query
whatever the number of runs; the page in chromium, each bar a link to its run."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from playwright.sync_api import sync_playwright

from jobs.models import JobRun
from jobs.selectors import job_runs_gantt
from tests.fixtures_clients import client_for
from tests.metrics.test_dashboard_browser import CHROMIUM_ARGS, _login

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)


def _run(job: str, start_minutes_ago: float, minutes: float | None, status: str = "success") -> JobRun:
    started = NOW - timedelta(minutes=start_minutes_ago)
    finished = None if minutes is None else started + timedelta(minutes=minutes)
    return JobRun.objects.create(
        job_name=job,
        task_name=job,
        task_id=f"{job}-{start_minutes_ago}-{status}",
        status=status,
        started_at=started,
        finished_at=finished,
        duration_ms=None if minutes is None else int(minutes * 60_000),
    )


@pytest.fixture
def runs() -> dict[str, JobRun]:
    return {
        "sync_a": _run("sync_playlists", 50, 20),
        "sync_b": _run("sync_playlists", 40, 20),  # overlaps sync_a: a second lane
        "sync_c": _run("sync_playlists", 20, 5),  # after sync_a ended: back on the first lane
        "ingest_running": _run("ingest_albums_from_sources", 10, None, status="running"),
        "failed": _run("refresh_tokens", 30, 1, status="failed"),
        "before": _run("refresh_tokens", 5 * 60, 1),  # ended long before the window
        "straddling": _run("metrics_snapshot", 62, 4),  # started before the window, ends inside
        "after": _run("metrics_snapshot", -5, 1),  # starts after the window
    }


def test_rows_per_job_bars_per_run_overlaps_on_lanes_in_one_query(runs: dict[str, JobRun]) -> None:
    with CaptureQueriesContext(connection) as queries:
        gantt = job_runs_gantt(since=NOW - timedelta(hours=1), until=NOW, now=NOW)
    assert len(queries.captured_queries) == 1
    by_job = {row["job"]: row for row in gantt["jobs"]}
    assert sorted(by_job) == ["ingest_albums_from_sources", "metrics_snapshot", "refresh_tokens", "sync_playlists"]
    sync = by_job["sync_playlists"]
    assert sync["lanes"] == 2
    assert [(bar.run_id, bar.lane) for bar in sync["bars"]] == [
        (runs["sync_a"].pk, 0),
        (runs["sync_b"].pk, 1),
        (runs["sync_c"].pk, 0),
    ]
    [running] = by_job["ingest_albums_from_sources"]["bars"]
    assert running.running and running.end == NOW
    assert [bar.run_id for bar in by_job["refresh_tokens"]["bars"]] == [runs["failed"].pk]
    assert [bar.run_id for bar in by_job["metrics_snapshot"]["bars"]] == [runs["straddling"].pk]
    assert gantt["truncated"] is False


def test_more_runs_than_a_page_are_cut_and_said_so(runs: dict[str, JobRun]) -> None:
    gantt = job_runs_gantt(since=NOW - timedelta(hours=1), until=NOW, now=NOW, limit=3)
    assert gantt["truncated"] is True
    assert sum(len(row["bars"]) for row in gantt["jobs"]) <= 3


def test_the_page_draws_a_link_per_run_and_refuses_a_window_it_cannot_draw(superuser: User, runs: dict[str, JobRun]) -> None:
    client = client_for(superuser)
    url = reverse("admin:jobs_jobrun_timeline")
    window = {"since": (NOW - timedelta(hours=1)).isoformat(), "until": NOW.isoformat()}
    page = client.get(url, window)
    assert page.status_code == 200
    html = page.content.decode()
    for name in ("sync_a", "sync_b", "sync_c", "failed", "straddling", "ingest_running"):
        assert reverse("admin:jobs_jobrun_change", args=[runs[name].pk]) in html, name
    assert reverse("admin:jobs_jobrun_change", args=[runs["before"].pk]) not in html
    assert 'data-status="failed"' in html and "gantt-bar running" in html
    assert 'id="run-timeline-link"' in client.get(reverse("admin:jobs_jobrun_changelist")).content.decode()

    backwards = client.get(url, {"since": NOW.isoformat(), "until": (NOW - timedelta(hours=1)).isoformat()})
    assert "The window must end after it starts." in [str(m) for m in backwards.context["messages"]]
    too_wide = client.get(url, {"since": (NOW - timedelta(days=8)).isoformat(), "until": NOW.isoformat()})
    assert "A window of at most 7 days, please." in [str(m) for m in too_wide.context["messages"]]


def test_a_viewer_sees_it_and_someone_without_the_permission_does_not(viewer: User, staff_plain: User) -> None:
    url = reverse("admin:jobs_jobrun_timeline")
    assert client_for(viewer).get(url).status_code == 200
    assert client_for(staff_plain).get(url).status_code == 403


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_in_chromium_a_bar_opens_its_run(live_server: Any, superuser: User, runs: dict[str, JobRun]) -> None:
    window = f"?since={(NOW - timedelta(hours=1)).strftime('%Y-%m-%dT%H:%M')}&until={NOW.strftime('%Y-%m-%dT%H:%M')}"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=shutil.which("chromium"), args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 900})
        _login(page, live_server.url)
        page.goto(f"{live_server.url}{reverse('admin:jobs_jobrun_timeline')}{window}")
        bars = page.locator(".gantt-bar")
        assert bars.count() == 6
        box = page.locator(f'a.gantt-bar[href$="/{runs["sync_b"].pk}/change/"]').bounding_box()
        first = page.locator(f'a.gantt-bar[href$="/{runs["sync_a"].pk}/change/"]').bounding_box()
        assert box is not None and first is not None and box["y"] > first["y"]  # the overlap on a lane below
        page.locator(f'a.gantt-bar[href$="/{runs["failed"].pk}/change/"]').click()
        page.wait_for_url(f"**/jobs/jobrun/{runs['failed'].pk}/change/")
        browser.close()
