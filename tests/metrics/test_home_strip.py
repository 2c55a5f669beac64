"""The operations home's status strip (metrics.dashboard.home_strip on the admin's index): open
alerts by severity, late jobs, accounts needing attention, queued tasks, dead letters — each a
count and a link to the list behind it, refreshed in place like the dashboard's panels."""

from __future__ import annotations

import re

import pytest
from django.contrib.auth.models import User
from django.db import connection
from django.test.utils import CaptureQueriesContext

from accounts.models import SpotifyAccount
from alerts.models import Alert, AlertRule
from alerts.rules import alert_rules_setup
from ingest.services import dead_letter_record
from tests.factories import SpotifyAccountFactory
from tests.fixtures_clients import client_for

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("short_probe_timeouts")]


def _strip(html: str) -> dict[str, tuple[str, str]]:
    """{key: (count, link)} of the strip on a page."""
    return {
        key: (count, link.replace("&amp;", "&"))
        for link, key, count in re.findall(r'<a href="([^"]*)" id="home-(\w+)"[^>]*><strong>(\d+)</strong>', html)
    }


def test_the_home_counts_what_needs_an_operator_and_links_each_list(superuser: User) -> None:
    client = client_for(superuser)
    empty = _strip(client.get("/admin/").content.decode())
    assert {key: count for key, (count, _) in empty.items()} == {
        "critical": "0", "warning": "0", "late_jobs": "0", "accounts": "0", "queued": "0", "dead_letters": "0",
    }

    alert_rules_setup()
    rule = AlertRule.objects.get(name="CircuitBreakerOpen")
    Alert.objects.create(rule=rule, subject="spotify.playlists", severity="critical", state="open")
    Alert.objects.create(rule=rule, subject="spotify.albums", severity="critical", state="pending")  # not open yet
    SpotifyAccountFactory(health=SpotifyAccount.Health.QUARANTINED)
    SpotifyAccountFactory(health=SpotifyAccount.Health.OK)
    SpotifyAccountFactory(health=SpotifyAccount.Health.REAUTH_REQUIRED, is_active=False)  # left the schedule
    for i in range(3):
        dead_letter_record(source_service="spotify.albums", operation=f"op{i}", error_type="server_error", error_message=str(i), payload={"i": i})

    page = client.get("/admin/").content.decode()
    strip = _strip(page)
    assert {key: count for key, (count, _) in strip.items()} == {
        "critical": "1", "warning": "0", "late_jobs": "0", "accounts": "1", "queued": "0", "dead_letters": "3",
    }
    assert 'id="home-critical" class="ops-bad"' in page
    # Each link opens its list, filtered to what was counted.
    accounts = client.get(strip["accounts"][1])
    assert accounts.status_code == 200 and accounts.context["cl"].result_count == 1
    alerts = client.get(strip["critical"][1])
    assert alerts.status_code == 200
    assert [a.subject for a in alerts.context["cl"].result_list if a.state == "open"] == ["spotify.playlists"]
    assert client.get(strip["dead_letters"][1]).status_code == 200
    assert client.get(strip["queued"][1]).status_code == 200
    assert "metrics/dashboard_live.js" in page and 'id="ops-live"' in page


def test_the_strip_costs_the_same_queries_however_many_rows(superuser: User) -> None:
    client = client_for(superuser)
    client.get("/admin/")
    with CaptureQueriesContext(connection) as few:
        client.get("/admin/")
    for _ in range(20):
        SpotifyAccountFactory(health=SpotifyAccount.Health.DEGRADED)
        dead_letter_record(source_service="spotify.albums", operation="x", error_type="server_error", error_message="e", payload={})
    with CaptureQueriesContext(connection) as many:
        page = client.get("/admin/").content.decode()
    assert _strip(page)["accounts"][0] == "20"
    assert len(many.captured_queries) == len(few.captured_queries)


def test_a_viewer_sees_the_strip(viewer: User) -> None:
    assert 'id="home-strip"' in client_for(viewer).get("/admin/").content.decode()
