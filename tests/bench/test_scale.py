"""`make bench-scale`'s table on two tiny fleets, one twice the other (bench/scale.py).

The cases behind the table's selector, alert and retention rows run on each fleet (built with
bench/fleet.py inside the test's transaction) and the table is made from their figures. Counts
only: rows present, queries, rows pruned; never times.
"""

from __future__ import annotations

import pytest

from bench import ops
from bench.fleet import FleetSizes, fleet_populate
from bench.registry import REGISTRY
from bench.scale import _spec, format_table, scaled, table
from jobs.models import JobRun

pytestmark = pytest.mark.django_db

TINY = FleetSizes(accounts=5, playlists=10, tracks=100, job_runs=200, metric_days=1, dead_letters=5)
CASES = ["ops.dashboard", "ops.health", "ops.queues", "alerts.evaluate", "metrics.retention_prune"]


def _run(sizes: FleetSizes) -> tuple[dict, int]:
    """The cases' figures on a fleet of `sizes`, and the job runs the prune removed."""
    fleet_populate(sizes=sizes)
    runs = JobRun.objects.count()
    figures = {name: REGISTRY[name].run() for name in CASES}
    return figures, runs - JobRun.objects.count()


def test_scaled_sizes_multiply_every_count_but_the_history_window() -> None:
    assert scaled(TINY, 10) == FleetSizes(accounts=50, playlists=100, tracks=1000, job_runs=2000, metric_days=1, dead_letters=50)


@pytest.mark.usefixtures("alert_rules")  # seeded again: a transactional test may have flushed them
def test_the_table_has_every_row_from_two_fleets(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ops, "REQUESTS", 1)
    monkeypatch.setattr(ops, "ALERT_PASSES", 1)
    small, small_pruned = _run(TINY)
    large, large_pruned = _run(scaled(TINY, 2))

    # The prune's count is the rows that went, and twice the runs age out of twice the history.
    assert small["metrics.retention_prune"]["pruned"]["job_runs"] == small_pruned > 0
    assert large["metrics.retention_prune"]["pruned"]["job_runs"] == large_pruned > small_pruned
    assert large["metrics.retention_prune"]["deletes"] == 1  # one batch: below RETENTION_BATCH_SIZE

    rows = table(small, large)
    assert len(rows) == len(_spec())
    by_label = {f"{row.group}: {row.label}": row for row in rows}
    for label in (
        "selectors: health report queries",
        "selectors: queues: failed runs per queue queries",
        "selectors: dashboard 24h queries",
        "alerts: one pass, queries",
    ):
        assert by_label[label].met is True, by_label[label]
    assert by_label["alerts: rules"].small == by_label["alerts: rules"].large > 0
    assert small["alerts.evaluate"]["errors"] == large["alerts.evaluate"]["errors"] == 0
    assert by_label["retention: rows pruned"].small == small_pruned
    # Cases this test does not run stay in the table, marked.
    assert by_label["admin changelist: tracks median ms"].verdict == "not run"
    assert by_label["memory: gunicorn worker RSS growth MB, pass 1 → 2"].verdict == "not run"
    ran = [row for row in rows if row.small is not None]
    assert all(row.large is not None for row in ran)
    assert len(format_table(rows, 2).splitlines()) == len(rows) + 1
