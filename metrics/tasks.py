"""Thin Celery tasks of the metrics app: the hourly snapshot and the daily retention."""

from __future__ import annotations

from typing import Any

from celery import shared_task

from metrics import services_metrics


@shared_task(name="metrics_snapshot", acks_late=True, ignore_result=False)
def metrics_snapshot() -> dict[str, Any]:
    snapshot = services_metrics.metric_snapshot_take()
    return {"snapshot_id": snapshot.pk, "taken_at": snapshot.taken_at.isoformat()}


@shared_task(name="retention", acks_late=True, ignore_result=False)
def retention() -> dict[str, Any]:
    # The returned counts become the JobRun summary (metrics.signals).
    return services_metrics.retention_prune()
