"""DataQualityScoreLow judges the quality tally of the latest hourly metric snapshot: no pass
counts every track (4.3 s a pass at 10M tracks, BENCHMARKS.md); before the first snapshot the
tracks are counted live."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from alerts.evaluator import alerts_evaluate
from alerts.models import Alert
from ingest.models import Track
from ingest.quality import tracks_quality_update
from metrics.services_metrics import metric_snapshot_take
from tests.factories import AlbumFactory, TrackFactory
from tests.fixtures_alerts import rule_only

pytestmark = pytest.mark.django_db


def _tracks(count: int, *, good: bool) -> None:
    album = AlbumFactory(label="Warp", release_date="2001")
    features = {"energy": 0.5} if good else None
    tracks = TrackFactory.create_batch(
        count, album=album, isrc="GBAAA0100001" if good else "", duration_ms=1000, audio_features=features
    )
    tracks_quality_update(track_ids=[t.pk for t in tracks])


def _track_queries(queries: CaptureQueriesContext) -> list[str]:
    return [q["sql"] for q in queries.captured_queries if 'FROM "ingest_track"' in q["sql"]]


def test_the_rule_reads_the_latest_snapshot_and_counts_live_only_before_the_first() -> None:
    rule_only("DataQualityScoreLow", channels=[], params={"threshold": 70, "min_tracks": 3})
    _tracks(4, good=False)  # missing ISRC and features: 55 each

    with CaptureQueriesContext(connection) as before_any_snapshot:
        assert alerts_evaluate()["opened"] == 1
    assert len(_track_queries(before_any_snapshot)) == 1, "no snapshot yet: counted live"
    alert = Alert.objects.get(subject="tracks")
    assert alert.summary == "average quality score 55.0 < 70" and alert.details["scored"] == 4

    metric_snapshot_take()
    Track.objects.all().delete()
    _tracks(4, good=True)  # fixed since the snapshot: the alert holds until the next one counts
    with CaptureQueriesContext(connection) as queries:
        assert alerts_evaluate()["resolved"] == 0
    assert _track_queries(queries) == []
    assert Alert.objects.get(pk=alert.pk).state == Alert.State.OPEN

    metric_snapshot_take()
    assert alerts_evaluate()["resolved"] == 1


def test_a_snapshot_from_before_snapshots_kept_the_average_is_not_read() -> None:
    rule_only("DataQualityScoreLow", channels=[], params={"threshold": 70, "min_tracks": 3})
    _tracks(4, good=False)
    snapshot = metric_snapshot_take()
    snapshot.extra = {"tracks_quality": snapshot.extra["tracks_quality"]}
    snapshot.save()
    assert alerts_evaluate()["opened"] == 1
