"""The dashboard's job-duration charts: their staff-only JSON (daily p95 per job, 30 days)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.contrib.auth.models import User
from django.test import Client

from tests.factories import record_job_run
from tests.fixtures_clients import client_for

pytestmark = pytest.mark.django_db

DASHBOARD = "/admin/metrics/metricsnapshot/dashboard/"
DATA = "/admin/metrics/metricsnapshot/dashboard/job-durations.json"


def test_the_dashboard_loads_each_jobs_daily_p95_from_a_staff_only_url(viewer: User) -> None:
    from core.groups import ops_groups_sync

    ops_groups_sync()  # the viewers group's view permissions
    now = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)
    for day in range(3):
        for seconds in (2, 4):
            record_job_run("verify_playlists", seconds * (day + 1), finished_at=now - timedelta(days=day, minutes=5))
    record_job_run("verify_playlists", 600, finished_at=now - timedelta(minutes=3), status="failed")

    with time_machine.travel(now, tick=False):
        # Signed in at the travelled time: a session stamped hours earlier would be idle by now.
        client = client_for(viewer)
        page = client.get(DASHBOARD).content.decode()
        body = client.get(DATA).json()

    assert f'id="ops-job-durations" data-url="{DATA}"' in page
    assert len(body["days"]) == 30 and body["days"][-1] == "2026-12-07"
    # p95 of two runs a and b: a + 0.95 × (b - a); the failed run does not count.
    assert body["jobs"]["verify_playlists"][-3:] == pytest.approx([11_700, 7_800, 3_900])
    assert body["jobs"]["verify_playlists"][:-3] == [None] * 27

    anonymous = Client().get(DATA)
    assert anonymous.status_code == 302 and "/admin/login/" in anonymous["Location"]
