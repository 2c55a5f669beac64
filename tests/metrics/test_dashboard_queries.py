"""What the dashboard reads grows with neither the catalog nor the failures: the quality tiers come
from the latest hourly snapshot (counting 10M tracks took 5.5 s a refresh, BENCHMARKS.md)."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from django.db import connection
from django.test.utils import CaptureQueriesContext

from ingest.quality import tracks_quality_update
from metrics.dashboard import dashboard_context
from metrics.services_metrics import metric_snapshot_take
from tests.factories import TrackFactory
from tests.fixtures_clients import client_for

pytestmark = pytest.mark.django_db

DASHBOARD = "/admin/metrics/metricsnapshot/dashboard/"


def _track_queries(queries: CaptureQueriesContext) -> list[str]:
    return [q["sql"] for q in queries.captured_queries if 'FROM "ingest_track"' in q["sql"]]


def test_quality_tiers_come_from_the_latest_snapshot_and_say_how_old_they_are(superuser: User) -> None:
    tracks = TrackFactory.create_batch(3, isrc="", duration_ms=1000)
    tracks_quality_update(track_ids=[t.pk for t in tracks])
    page = client_for(superuser).get(DASHBOARD).content.decode()
    assert "counted now (no hourly snapshot has counted them yet)" in page

    metric_snapshot_take()
    TrackFactory.create_batch(2)  # after the snapshot: not in the figure until the next one
    with CaptureQueriesContext(connection) as queries:
        context = dashboard_context(range_key="24h")
    assert _track_queries(queries) == []
    assert context["ingest"]["quality"] == {"good": 0, "fair": 0, "poor": 3, "unscored": 0}
    page = client_for(superuser).get(DASHBOARD).content.decode()
    assert "(hourly snapshot)" in page and 'class="ops-reltime"' in page.split('id="tracks-quality"')[1].split("</caption>")[0]
