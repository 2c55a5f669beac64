"""The dashboard in a real browser (Debian's chromium through Playwright) against live_server."""

from __future__ import annotations

import shutil
from datetime import timedelta

import pytest
from django.contrib.auth.models import User
from django.utils import timezone
from django_celery_beat.models import PeriodicTask
from playwright.sync_api import Page, sync_playwright

from jobs.models import JobRun
from jobs.schedule import schedule_sync
from metrics.models import MetricSnapshot
from tests.factories import record_job_run

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.usefixtures("short_probe_timeouts")]

CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
    "--disable-sync", "--no-first-run",
]

# How many pixels of each canvas under a selector Chart.js painted.
PAINTED_PIXELS_JS = """
(selector) => Array.from(document.querySelectorAll(selector)).map((canvas) => {
  const data = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
  let painted = 0;
  for (let i = 3; i < data.length; i += 4) { if (data[i] !== 0) painted++; }
  return {id: canvas.id, painted: painted, chart: Boolean(window.Chart && Chart.getChart(canvas))};
})
"""


def _seed_snapshots() -> None:
    now = timezone.now().replace(minute=0, second=0, microsecond=0)
    for hours_ago in range(30):
        MetricSnapshot.objects.create(
            taken_at=now - timedelta(hours=hours_ago),
            accounts_total=10,
            accounts_by_health={"ok": 8 - hours_ago % 3, "degraded": 1 + hours_ago % 3, "quarantined": 1, "reauth_required": 0},
            playlists_active=40 + hours_ago,
            tracks_total=5000 - hours_ago * 10,
            tracks_with_features=3000,
            reshuffles=hours_ago % 5,
            retries=100 - hours_ago,
            dead_letters=hours_ago % 4,
            job_failures=hours_ago % 2,
        )
    JobRun.objects.create(
        job_name="ingest_albums_from_sources", task_name="ingest_albums_from_sources", task_id="failed-1",
        status=JobRun.Status.FAILED, started_at=timezone.now(), finished_at=timezone.now(),
        error="Traceback...\nSpotifyServerError: 503 from albums",
    )
    # Two weeks of verify_playlists getting slower, and one retention run: two duration charts.
    for days_ago in range(14):
        record_job_run("verify_playlists", 30 + 5 * (14 - days_ago), finished_at=now - timedelta(days=days_ago, hours=1))
    record_job_run("retention", 4, finished_at=now - timedelta(days=2))


def _login(page: Page, base_url: str) -> None:
    page.goto(f"{base_url}/admin/login/")
    page.fill("#id_username", "root")
    page.fill("#id_password", "pw-root-123!")
    page.click("input[type=submit]")
    page.wait_for_selector("#operations-dashboard")


def test_staff_opens_the_dashboard_sees_charts_and_runs_an_admin_action(live_server, superuser: User) -> None:  # type: ignore[no-untyped-def]
    chromium = shutil.which("chromium")
    assert chromium, "Debian's chromium is required: make browser"
    _seed_snapshots()
    schedule_sync()

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            _login(page, live_server.url)

            page.click("#operations-dashboard a:has-text('Operations dashboard')")
            page.wait_for_selector("body[data-charts-ready='true']")
            assert "Operations dashboard" in page.title()
            charts_24h = page.evaluate(PAINTED_PIXELS_JS, "#ops-trends canvas")
            page.wait_for_selector("body[data-job-durations-ready='true']")
            duration_charts = page.evaluate(PAINTED_PIXELS_JS, "#ops-job-durations canvas")
            duration_links = page.eval_on_selector_all("#ops-job-durations figcaption a", "links => links.map((a) => a.href)")
            failing_panel = page.inner_text("#panel-failing-jobs")
            dead_letters = page.inner_text("#dead-letter-depth")
            queues_panel = page.inner_text("#panel-queues")

            page.click("a[data-range='7d']")
            page.wait_for_selector("body[data-charts-ready='true']")
            assert page.url.endswith("?range=7d")
            charts_7d = page.evaluate(PAINTED_PIXELS_JS, "#ops-trends canvas")
            range_text = page.inner_text(".ops-ranges")

            # One admin action: disable the hourly snapshot job from the periodic tasks list.
            page.goto(f"{live_server.url}/admin/django_celery_beat/periodictask/")
            row = page.locator("#result_list tr", has_text="metrics_snapshot")
            row.locator("input.action-select").check()
            page.select_option("select[name=action]", "disable_tasks")
            page.click("button[name=index]")
            page.wait_for_selector(".messagelist")
            message = page.inner_text(".messagelist")
        finally:
            browser.close()

    assert len(charts_24h) == 4
    for chart in charts_24h + charts_7d:
        assert chart["chart"], chart
        assert chart["painted"] > 500, chart
    assert [chart["id"] for chart in duration_charts] == ["chart-duration-retention", "chart-duration-verify_playlists"]
    for chart in duration_charts:
        assert chart["chart"], chart
    # One point for retention, a line over 14 days for verify_playlists.
    assert 0 < duration_charts[0]["painted"] < duration_charts[1]["painted"]
    assert duration_links[1].endswith("/admin/jobs/jobrun/?job_name=verify_playlists&status__exact=success")
    assert "ingest_albums_from_sources" in failing_panel and "503" in failing_panel
    assert dead_letters.strip() == "0"
    jobs = PeriodicTask.objects.count()
    assert f"{jobs} of {jobs}" in queues_panel and "not ticking" in queues_panel
    assert "30 hourly snapshots" in range_text
    assert "disabled" in message
    assert PeriodicTask.objects.get(name="metrics_snapshot").enabled is False
    assert PeriodicTask.objects.get(name="refresh_tokens").enabled is True
