from __future__ import annotations

import json
import logging

from django.contrib.auth.models import User
from django.test import Client

from core.logging import ContextFilter, JsonFormatter, log_context
from jobs.models import JobRun
from jobs.schedule import schedule_sync


def _format(record: logging.LogRecord) -> dict:
    ContextFilter().filter(record)
    return json.loads(JsonFormatter().format(record))


def test_log_lines_are_json_with_the_request_or_task_context() -> None:
    token = log_context.set({"task_id": "abc-123", "job": "refresh_tokens"})
    try:
        line = _format(logging.LogRecord("x", logging.INFO, __file__, 1, "refreshed %d accounts", (3,), None))
    finally:
        log_context.reset(token)
    assert line["event"] == "refreshed 3 accounts"
    assert (line["task_id"], line["job"], line["level"]) == ("abc-123", "refresh_tokens", "info")


def test_tokens_and_secrets_never_reach_a_log_line() -> None:
    secret_lines = [
        "GET /v1/me headers={'Authorization': 'Bearer BQD-secret.token_value'}",
        "POST /api/token data=grant_type=refresh_token&refresh_token=AQB-refresh-secret&client_secret=shh-123",
        '{"access_token": "BQC-access-secret", "expires_in": 3600}',
    ]
    for message in secret_lines:
        line = json.dumps(_format(logging.LogRecord("spotipy", logging.WARNING, __file__, 1, message, None, None)))
        for secret in ("BQD-secret.token_value", "AQB-refresh-secret", "shh-123", "BQC-access-secret"):
            assert secret not in line


def test_one_id_follows_an_api_call_into_the_job_run(db: None, operator: User, django_capture_on_commit_callbacks) -> None:  # type: ignore[no-untyped-def]
    schedule_sync()
    client = Client()
    client.force_login(operator)
    with django_capture_on_commit_callbacks():
        response = client.post(
            "/api/v1/jobs/update", {"name": "metrics_snapshot", "run_now": True},
            content_type="application/json", HTTP_X_REQUEST_ID="req-0123456789",
        )
    assert response["X-Request-ID"] == "req-0123456789"
    assert response.json()["correlation_id"] == "req-0123456789"
    assert JobRun.objects.get(task_id=response.json()["task_id"]).correlation_id == "req-0123456789"


def test_an_unsafe_request_id_is_replaced(db: None) -> None:
    response = Client().get("/live", HTTP_X_REQUEST_ID="bad id\nwith newline")
    assert response["X-Request-ID"] != "bad id\nwith newline"
    assert len(response["X-Request-ID"]) == 32
