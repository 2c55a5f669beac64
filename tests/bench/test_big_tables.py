"""What keeps lists cheap on big tables: estimated counts, no DISTINCT scans, per-page subqueries."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from bench.fleet import FleetSizes, fleet_populate

pytestmark = pytest.mark.django_db

BIG = 10_000  # EstimatedCountPaginator's threshold


@pytest.fixture
def staff_client(superuser: User) -> Client:
    client = Client()
    client.force_login(superuser)
    return client


def _get(client: Client, path: str) -> tuple[dict, list[str]]:  # type: ignore[type-arg]
    with CaptureQueriesContext(connection) as queries:
        response = client.get(path)
    assert response.status_code == 200, response.content[:500]
    return response.json(), [q["sql"] for q in queries.captured_queries]


def test_unfiltered_track_list_takes_the_planner_estimate_instead_of_counting(staff_client: Client) -> None:
    fleet_populate(sizes=FleetSizes(accounts=5, playlists=5, tracks=BIG, job_runs=5, metric_days=1, dead_letters=5))
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE ingest_track")

    # Rows deleted since the ANALYZE: the estimate still says BIG, an exact count would not.
    from ingest.models import Track
    from playlists.models import SnapshotTrack

    unlisted = Track.objects.exclude(pk__in=SnapshotTrack.objects.values("track_id")).order_by("pk")
    Track.objects.filter(pk__in=unlisted.values("pk")[:7]).delete()
    body, sql = _get(staff_client, "/api/v1/tracks?page_size=10")
    assert body["count"] == BIG and len(body["results"]) == 10

    # A filtered list is usually small: it keeps the exact count.
    body, sql = _get(staff_client, "/api/v1/tracks?has_features=false&page_size=10")
    assert body["count"] == BIG // 20
    assert [q for q in sql if "COUNT(" in q.upper() and "ingest_track" in q]


def test_an_unfiltered_list_costs_the_same_queries_below_and_above_the_estimate_threshold(staff_client: Client) -> None:
    """The count is one statement either way (core.admin_utils.EstimatedCountPaginator): a page's
    queries do not change when its table grows past the threshold."""
    from ingest.models import Track
    from playlists.models import SnapshotTrack

    fleet_populate(sizes=FleetSizes(accounts=5, playlists=5, tracks=BIG, job_runs=5, metric_days=1, dead_letters=5))
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE ingest_track")
    _, big = _get(staff_client, "/api/v1/tracks?page_size=10")
    Track.objects.exclude(pk__in=SnapshotTrack.objects.values("track_id")).delete()
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE ingest_track")
    body, small = _get(staff_client, "/api/v1/tracks?page_size=10")
    assert 0 < body["count"] == Track.objects.count() < BIG
    assert len(small) == len(big)


def test_job_run_changelist_runs_no_distinct_scan_over_the_history(staff_client: Client) -> None:
    fleet_populate(sizes=FleetSizes.uniform(50))
    with CaptureQueriesContext(connection) as queries:
        response = staff_client.get("/admin/jobs/jobrun/")
    assert response.status_code == 200
    # The job-name filter still offers every scheduled job, from code rather than from the rows.
    assert b"?job_name=refresh_tokens" in response.content
    assert not [q["sql"] for q in queries.captured_queries if "DISTINCT" in q["sql"].upper()]


def test_account_list_counts_active_playlists_per_row(staff_client: Client) -> None:
    fleet_populate(sizes=FleetSizes(accounts=4, playlists=40, tracks=100, job_runs=5, metric_days=1, dead_letters=5))
    body, sql = _get(staff_client, "/api/v1/accounts/list")
    # 10 playlists per account; every 20th fleet playlist is retired.
    counts = sorted(row["playlist_count"] for row in body["results"])
    assert sum(counts) == 38 and counts == [9, 9, 10, 10]
    # A subquery per page row, not a join + GROUP BY over every playlist of the fleet.
    assert not [q for q in sql if 'LEFT OUTER JOIN "playlists_playlist"' in q]
