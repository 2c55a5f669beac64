"""Each staff user's display time zone: the admin shows times in it, the API stays ISO 8601 UTC."""

from __future__ import annotations

import re

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.utils import timezone

from core.models import UserPreference
from jobs.models import JobRun
from tests.fixtures_clients import client_for

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("short_probe_timeouts")]


def _login(user: User, password: str) -> Client:
    """Through the admin's login form, as a person signs in (the lockout backend sees the request)."""
    client = Client()
    answer = client.post("/admin/login/?next=/admin/", {"username": user.username, "password": password})
    assert answer.status_code == 302, answer.content.decode()[:500]
    return client


def test_a_new_user_sees_utc_and_can_choose_a_zone(operator: User) -> None:
    client = _login(operator, "pw-olive-123!")
    assert (
        '<a href="/admin/preferences/?next=/admin/" id="display-time-zone" title="Display time zone">UTC</a>'
        in client.get("/admin/").content.decode()
    )

    response = client.post("/admin/preferences/", {"time_zone": "America/New_York", "next": "/admin/jobs/jobrun/"})

    assert response.status_code == 302 and response["Location"] == "/admin/jobs/jobrun/"
    assert UserPreference.objects.get(user=operator).time_zone == "America/New_York"
    assert ">America/New_York</a>" in client.get("/admin/").content.decode()


def test_an_unknown_zone_or_an_outside_next_is_refused(operator: User) -> None:
    client = _login(operator, "pw-olive-123!")
    assert client.post("/admin/preferences/", {"time_zone": "Mars/Olympus_Mons"}).status_code == 400
    assert not UserPreference.objects.filter(user=operator).exists()
    response = client.post("/admin/preferences/", {"time_zone": "Europe/Berlin", "next": "https://evil.example/"})
    assert response["Location"] == "/admin/"


def test_the_zone_follows_the_user_into_a_new_session_and_the_admin_renders_in_it(superuser: User) -> None:
    UserPreference.objects.create(user=superuser, time_zone="Asia/Tokyo")
    started = timezone.now().replace(hour=1, minute=2, second=3, microsecond=0)
    JobRun.objects.create(
        job_name="refresh_tokens", task_name="refresh_tokens", task_id="tz-1", status="success", started_at=started
    )
    client = _login(superuser, "pw-root-123!")

    page = client.get("/admin/metrics/metricsnapshot/dashboard/").content.decode()
    assert re.search(r'<time class="ops-reltime" datetime="[^"]+Z" title="[^"]+ JST">', page)
    assert "times in\n    <a" in page and ">Asia/Tokyo</a>" in page

    api = client.get("/api/v1/job-runs?job=refresh_tokens").json()["results"][0]["started_at"]
    assert api.endswith(("Z", "+00:00")) and "T01:02:03" in api


def test_pages_outside_the_admin_stay_utc(superuser: User) -> None:
    UserPreference.objects.create(user=superuser, time_zone="Asia/Tokyo")
    client = client_for(superuser)
    client.get("/admin/")
    assert timezone.get_current_timezone_name() == "UTC"


def test_reltime_reads_iso_strings_from_json_reports_as_it_reads_datetimes() -> None:
    from datetime import timedelta

    from django.utils import timezone

    from core.templatetags.opsconsole_time import reltime

    moment = timezone.now() - timedelta(minutes=4)
    assert reltime(moment.isoformat()) == reltime(moment)
    assert "4\xa0minutes ago" in reltime(moment.isoformat())
    assert reltime("not a time") == "never"
