"""Webhook, Slack and SSRF over real HTTP on loopback; retried delivery by a real worker;
two evaluators at once."""

from __future__ import annotations

import hashlib
import hmac
import threading
from collections.abc import Callable
from typing import Any

import pytest
from django.db import connection

from alerts.evaluator import alerts_evaluate
from alerts.models import Alert, Delivery, Notification, NotificationChannel
from alerts.services import channel_create, channel_send_test, notification_deliver
from tests.fixtures_alerts import HttpReceiver, deliver_pending, make_dead_letters, rule_only


@pytest.mark.django_db
def test_a_signed_webhook_carries_the_alert_and_an_hmac_of_its_body(http_receiver: HttpReceiver) -> None:
    channel = channel_create(
        kind="webhook", name="pager", target=f"{http_receiver.url}/hooks/ops", secret="s3cret-key", actor="cli:test"
    )
    rule = rule_only("DLQDepthCritical", channels=[channel], params={"threshold": 1})
    make_dead_letters(2)
    alerts_evaluate()
    assert [r["outcome"] for r in deliver_pending()] == ["sent"]

    [request] = http_receiver.requests
    assert request.path == "/hooks/ops"
    expected = "sha256=" + hmac.new(b"s3cret-key", request.body, hashlib.sha256).hexdigest()
    assert request.headers["X-Opsconsole-Signature"] == expected
    body = request.json()
    alert = Alert.objects.get(rule=rule)
    assert {k: body[k] for k in ("version", "rule", "rule_id", "state", "severity", "event", "count")} == {
        "version": 2,
        "rule": "DLQDepthCritical",
        "rule_id": rule.pk,
        "state": "open",
        "severity": "critical",
        "event": "opened",
        "count": 1,
    }
    assert body["link"].endswith(f"/admin/alerts/alert/?rule__id__exact={rule.pk}&state__exact=open")
    [item] = body["alerts"]
    assert {k: item[k] for k in ("alert", "dedup_key", "subject", "state", "severity")} == {
        "alert": alert.pk,
        "dedup_key": f"opsconsole-alert-{alert.pk}",
        "subject": "dead_letters",
        "state": "open",
        "severity": "critical",
    }
    assert item["opened_at"] == alert.opened_at.isoformat()
    assert item["link"].endswith(f"/admin/alerts/alert/{alert.pk}/change/")
    delivery = Delivery.objects.get(channel=channel)
    assert (delivery.ok, delivery.status_code) == (True, 200)


@pytest.mark.django_db
def test_a_slack_channel_gets_one_text_message(http_receiver: HttpReceiver) -> None:
    channel = channel_create(kind="slack", name="slack", target=f"{http_receiver.url}/services/T0/B0/xyz", actor="cli:test")
    channel_send_test(channel=channel, actor="admin:olive")
    deliver_pending()
    [request] = http_receiver.requests
    assert set(request.json()) == {"text"}
    assert "Test notification" in request.json()["text"]


@pytest.mark.django_db
@pytest.mark.parametrize(
    "url", ["http://127.0.0.1:8000/x", "http://10.1.2.3/hook", "http://169.254.169.254/latest", "http://[::1]/"]
)
def test_webhook_targets_on_internal_addresses_are_refused(settings: Any, url: str) -> None:
    settings.ALERT_WEBHOOK_ALLOW_PRIVATE = False
    with pytest.raises(ValueError, match="non-public address"):
        channel_create(kind="webhook", name="internal", target=url, actor="cli:test")
    assert not NotificationChannel.objects.exists()


@pytest.mark.django_db
def test_a_stored_channel_whose_target_turned_internal_is_refused_at_send_time(
    settings: Any, http_receiver: HttpReceiver
) -> None:
    channel = channel_create(kind="webhook", name="pager", target=f"{http_receiver.url}/hook", actor="cli:test")
    notification = channel_send_test(channel=channel, actor="cli:test")
    settings.ALERT_WEBHOOK_ALLOW_PRIVATE = False
    result = notification_deliver(notification_id=notification.pk)
    assert result["outcome"] == "failed"
    assert http_receiver.requests == []
    assert "target refused" in Delivery.objects.get().error
    channel.refresh_from_db()
    assert channel.failing_since is not None


def test_a_channel_that_fails_twice_then_recovers_delivers_once_through_a_real_worker(
    start_celery_worker: Callable[..., Any], http_receiver: HttpReceiver
) -> None:
    http_receiver.fail_first = 2
    worker = start_celery_worker(extra_env={"ALERT_DELIVERY_BACKOFF_BASE_SECONDS": "0.2"})
    channel = channel_create(kind="webhook", name="flaky", target=f"{http_receiver.url}/hook", secret="k", actor="cli:test")
    notification = channel_send_test(channel=channel, actor="cli:test")

    worker.wait_until(lambda: Notification.objects.get(pk=notification.pk).status == "sent", timeout=60)
    assert len(http_receiver.requests) == 3
    assert len({r.body for r in http_receiver.requests}) == 1  # the same message each time
    assert list(Delivery.objects.filter(channel=channel).order_by("at", "id").values_list("ok", "status_code")) == [
        (False, 500),
        (False, 500),
        (True, 200),
    ]
    notification.refresh_from_db()
    assert notification.attempts == 3
    channel.refresh_from_db()
    assert channel.failing_since is None and channel.last_success_at is not None


@pytest.mark.django_db(transaction=True)
def test_two_evaluators_at_once_open_one_alert_and_notify_once(http_receiver: HttpReceiver) -> None:
    channel = channel_create(kind="webhook", name="pager", target=f"{http_receiver.url}/hook", actor="cli:test")
    rule_only("DLQDepthWarning", channels=[channel], params={"threshold": 0})
    make_dead_letters(1)
    barrier = threading.Barrier(2)
    results: list[dict[str, Any]] = []

    def evaluate() -> None:
        barrier.wait()
        try:
            results.append(alerts_evaluate())
        finally:
            connection.close()

    threads = [threading.Thread(target=evaluate) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(r.get("opened", 0) for r in results) == [0, 1]
    assert Alert.objects.count() == 1 and Notification.objects.count() == 1
