"""Reads of what the metrics app keeps: the track quality tally of the hourly snapshot."""

from __future__ import annotations

from datetime import datetime

from ingest.quality import QualityTally, tracks_quality_tally
from metrics.models import MetricSnapshot


def snapshot_quality(snapshot: MetricSnapshot | None) -> QualityTally | None:
    """The quality tally `snapshot` kept (counted when it was taken: an hour old at most while the
    hourly `metrics_snapshot` runs); None without one, or for a snapshot written before snapshots
    kept the average score."""
    extra = snapshot.extra if snapshot is not None else {}
    counts, score = extra.get("tracks_quality"), extra.get("tracks_quality_score")
    if not isinstance(counts, dict) or not isinstance(score, dict):
        return None
    return QualityTally(
        counts={tier: int(n) for tier, n in counts.items()},
        scored=int(score["scored"]),
        average=None if score["average"] is None else float(score["average"]),
        counted_at=datetime.fromisoformat(score["counted_at"]),
    )


def tracks_quality_latest() -> QualityTally:
    """The latest snapshot's quality tally (DataQualityScoreLow, `/metrics`), counted live only
    until a snapshot keeps one."""
    return snapshot_quality(MetricSnapshot.objects.order_by("-taken_at").only("extra").first()) or tracks_quality_tally()
