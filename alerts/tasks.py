"""Thin Celery tasks of alerting: the every-minute evaluation and one delivery per notification."""

from __future__ import annotations

from typing import Any

from celery import shared_task

from alerts import services
from alerts.evaluator import alerts_evaluate


@shared_task(name="evaluate_alerts", acks_late=True, ignore_result=False, soft_time_limit=90, time_limit=110)
def evaluate_alerts() -> dict[str, Any]:
    return alerts_evaluate()


@shared_task(
    name="alert_deliver", bind=True, acks_late=True, ignore_result=False, max_retries=None, soft_time_limit=60, time_limit=90
)
def alert_deliver(self: Any, notification_id: int) -> dict[str, Any]:
    result = services.notification_deliver(notification_id=notification_id)
    if result["outcome"] == "failed":
        # Retried with backoff until it is sent: a notification is never dropped.
        raise self.retry(countdown=result["retry_in"], exc=RuntimeError(result.get("error", "delivery failed")))
    return result
