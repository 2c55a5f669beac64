"""The on-call pages' selectors, one alert evaluation and the retention prune on the fleet.

- `ops.dashboard`, `ops.health`, `ops.queues`: what the dashboard page, /health and
  /api/ops/queues compute, called directly (median ms of BENCH_REQUESTS calls and the queries of
  one). /api/ops/queues also asks the workers over the broker (a fixed timeout when none answer):
  only its database part, the failed runs per queue, is measured.
- `alerts.evaluate`: `alerts_evaluate`, one pass of every rule, as the `evaluate_alerts` job
  runs it. The first pass opens what fires; the median is of the passes after it.
- Both `ops.dashboard` and `alerts.evaluate` first take the hourly metric snapshot, as production
  has one at most an hour old (the fleet's synthetic ones carry no track count): the quality tiers
  and average are read from it. `snapshot_take_ms` is what the hourly job pays for them.
- `metrics.retention_prune`: the daily `retention` job with its clock moved
  BENCH_RETENTION_DAYS (default 3) ahead, so that many days of the fleet's job runs age out.

The writers run inside the runner's rolled-back transaction: the fleet stays as built.
"""

from __future__ import annotations

import os
import statistics
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from bench.registry import Figures, register

REQUESTS = int(os.environ.get("BENCH_REQUESTS", "20"))
BUDGET_SECONDS = float(os.environ.get("BENCH_SELECTOR_SECONDS", "20"))
ALERT_PASSES = int(os.environ.get("BENCH_ALERT_PASSES", "5"))
RETENTION_DAYS = int(os.environ.get("BENCH_RETENTION_DAYS", "3"))
# The bound on any one statement (and so on the row locks a prune batch holds).
RETENTION_STATEMENT_GOAL_MS = 1000.0


def timed(call: Callable[[], Any], *, requests: int = REQUESTS, warmup: int = 2) -> Figures:
    """Median and max ms of `requests` calls (fewer past BENCH_SELECTOR_SECONDS) after `warmup`,
    and the queries of one more call."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    for _ in range(warmup):
        call()
    timings: list[float] = []
    # A selector that takes seconds on the ×10 fleet: the median of fewer calls (at least 3).
    while len(timings) < requests and (len(timings) < 3 or sum(timings) < BUDGET_SECONDS * 1000):
        started = time.perf_counter()
        call()
        timings.append((time.perf_counter() - started) * 1000)
    with CaptureQueriesContext(connection) as queries:
        call()
    slowest = max(queries.captured_queries, key=lambda q: float(q["time"]), default={"sql": "", "time": "0"})
    return {
        "median_ms": round(statistics.median(timings), 1),
        "max_ms": round(max(timings), 1),
        "calls": len(timings),
        "queries": len(queries.captured_queries),
        "slowest_query_ms": round(float(slowest["time"]) * 1000, 1),
        "slowest_query": slowest["sql"][:300],
    }


def _snapshot_take_ms() -> float:
    """Take the hourly metric snapshot (the `metrics_snapshot` job); its ms. In the case's
    rolled-back transaction: the fleet stays as built."""
    from metrics.services_metrics import metric_snapshot_take

    started = time.perf_counter()
    metric_snapshot_take()
    return round((time.perf_counter() - started) * 1000, 1)


@register("ops.dashboard", rollback=True)
def dashboard() -> Figures:
    from metrics.dashboard import dashboard_context

    snapshot_ms = _snapshot_take_ms()
    figures: Figures = {key: timed(lambda key=key: dashboard_context(range_key=key)) for key in ("24h", "30d")}
    return {**figures, "snapshot_take_ms": snapshot_ms}


@register("ops.health")
def health() -> Figures:
    from metrics.health import health_report

    return timed(health_report)


@register("ops.queues")
def queues() -> Figures:
    from django.utils import timezone

    from metrics.queues import FAILED_WINDOW, failed_recent

    return {"failed_recent": timed(lambda: failed_recent(since=timezone.now() - FAILED_WINDOW))}


@register("alerts.evaluate", rollback=True)
def alerts_evaluate() -> Figures:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from alerts.evaluator import alerts_evaluate as evaluate
    from alerts.models import Alert, AlertRule

    snapshot_ms = _snapshot_take_ms()
    started = time.perf_counter()
    with CaptureQueriesContext(connection) as first_queries:
        first = evaluate()
    first_ms = (time.perf_counter() - started) * 1000
    timings, counts = [], []
    for _ in range(ALERT_PASSES):
        started = time.perf_counter()
        with CaptureQueriesContext(connection) as queries:
            counts.append(evaluate())
        timings.append((time.perf_counter() - started) * 1000)
    slowest = max(queries.captured_queries, key=lambda q: float(q["time"]), default={"sql": "", "time": "0"})
    return {
        "rules": AlertRule.objects.filter(enabled=True).count(),
        "alerts_open": Alert.objects.filter(resolved_at__isnull=True).count(),
        "first_pass": {k: v for k, v in first.items() if v},
        "first_pass_ms": round(first_ms, 1),
        "first_pass_queries": len(first_queries.captured_queries),
        "passes": ALERT_PASSES,
        "median_ms": round(statistics.median(timings), 1),
        "max_ms": round(max(timings), 1),
        "queries": len(queries.captured_queries),
        "errors": counts[-1].get("errors", 0),
        "slowest_query_ms": round(float(slowest["time"]) * 1000, 1),
        "slowest_query": slowest["sql"][:200],
        "snapshot_take_ms": snapshot_ms,
    }


@register("metrics.retention_prune", rollback=True)
def retention_prune() -> Figures:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext
    from django.utils import timezone

    from metrics.services_metrics import RETENTION_BATCH_SIZE
    from metrics.services_metrics import retention_prune as prune

    with CaptureQueriesContext(connection) as queries:
        started = time.perf_counter()
        pruned = prune(now=timezone.now() + timedelta(days=RETENTION_DAYS))
        seconds = time.perf_counter() - started
    statements = queries.captured_queries
    deletes = [q for q in statements if q["sql"].startswith("DELETE")]
    slowest = max(statements, key=lambda q: float(q["time"]), default={"sql": "", "time": "0"})
    slowest_delete = max(deletes, key=lambda q: float(q["time"]), default={"sql": "", "time": "0"})
    rows = sum(pruned.values())
    return {
        "days_aged_out": RETENTION_DAYS,
        "pruned": pruned,
        "rows": rows,
        "seconds": round(seconds, 2),
        "rows_per_second": round(rows / seconds) if seconds else None,
        "batch_size": RETENTION_BATCH_SIZE,
        "statements": len(statements),
        "deletes": len(deletes),
        # A DELETE holds its rows' locks until its batch commits; the SELECTs take none.
        "longest_delete_ms": round(float(slowest_delete["time"]) * 1000, 1),
        "longest_statement_ms": round(float(slowest["time"]) * 1000, 1),
        "longest_statement": slowest["sql"][:200],
        "goal_statement_ms": RETENTION_STATEMENT_GOAL_MS,
    }
