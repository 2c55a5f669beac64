"""Alerts as the on-call meets them, on a whole `make demo` with its mail sent to a real SMTP server:
a healthy start pages no one through its startup grace and pending periods, and one Spotify outage
pages once when it opens and once when it resolves, each mail with the runbook's link
(docs/runbooks/alerts.md). One demo serves both tests, in file order."""

from __future__ import annotations

import json
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
from django.conf import settings

from devstack.emulator.control import EmulatorRemote
from tests.devstack.demo_run import Demo, demo_database, start_demo
from tests.fixtures_alerts import SmtpInbox, smtp_server

pytestmark = pytest.mark.slow

LIVENESS_RULES = ("BeatGone", "NoWorkers")
EVALUATION_SECONDS = 60  # the evaluator's loop (devstack/processes.py alerts_spec) and beat's evaluate_alerts


@dataclass
class DemoWithMail:
    demo: Demo
    inbox: SmtpInbox
    database_url: str
    started_at: datetime

    def query(self, sql: str, *params: Any) -> list[tuple[Any, ...]]:
        with psycopg.connect(self.database_url) as connection:
            return connection.execute(sql, params).fetchall()


@pytest.fixture(scope="module")
def demo_with_mail(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoWithMail]:
    with smtp_server() as inbox, demo_database() as database_url:
        demo = start_demo(Path(tmp_path_factory.mktemp("demo")), database_url, EMAIL_URL=f"smtp://{inbox.host}:{inbox.port}")
        try:
            demo.wait_for_banner()
            yield DemoWithMail(demo, inbox, database_url, datetime.now(UTC))
        finally:
            demo.stop()


def _wait_for_mail(inbox: SmtpInbox, count: int, *, seconds: float) -> list[str]:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and len(inbox.messages) < count:
        time.sleep(1)
    return inbox.subjects()


def _body(message: Any) -> str:
    return str(message.get_payload(decode=True).decode())


def test_a_healthy_demo_notifies_no_one_through_its_startup_grace_and_pending_periods(demo_with_mail: DemoWithMail) -> None:
    run = demo_with_mail
    (liveness_pending,) = run.query("SELECT max(pending_for) FROM metrics_alertrule WHERE name = ANY(%s)", list(LIVENESS_RULES))[
        0
    ]
    # The evaluator started before the banner: by then it is past its grace, a liveness
    # condition true since boot has waited out its pending period, and one more pass has run.
    quiet_until = (
        run.started_at
        + timedelta(seconds=float(settings.ALERT_STARTUP_GRACE_SECONDS))
        + liveness_pending
        + timedelta(seconds=EVALUATION_SECONDS + 15)
    )
    while datetime.now(UTC) < quiet_until and not run.inbox.messages:
        time.sleep(5)

    assert run.inbox.subjects() == []
    assert run.query("SELECT r.name, a.state, a.summary FROM metrics_alert a JOIN metrics_alertrule r ON r.id = a.rule_id") == []
    # Every enabled rule was evaluated after the quiet period began, none with an error: no page
    # because nothing is wrong, not because nothing looked.
    rules = run.query("SELECT name, last_evaluated_at, last_error FROM metrics_alertrule WHERE enabled")
    assert len(rules) >= 20
    for name, evaluated_at, error in rules:
        assert evaluated_at is not None and evaluated_at > quiet_until - timedelta(seconds=EVALUATION_SECONDS + 15), name
        assert error == "", (name, error)


def test_one_spotify_outage_mails_one_grouped_opened_and_one_resolved_with_the_runbook(demo_with_mail: DemoWithMail) -> None:
    run = demo_with_mail
    demo = run.demo
    # An operator's shorter threshold for a circuit left open (the default, 5 minutes, would only
    # make this test wait longer).
    demo.manage(
        "shell",
        "-c",
        "from alerts.models import AlertRule; AlertRule.objects.filter(name='CircuitBreakerOpen').update(params={'minutes': 1})",
    )
    token = demo.manage("create_api_token", "admin").strip()
    emulator = EmulatorRemote(demo.emulator_url)

    def reshuffle_all() -> None:
        request = urllib.request.Request(
            f"{demo.url}/api/v1/playlists/reshuffle-bulk",
            data=json.dumps({"mode": "all"}).encode(),
            headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
            method="POST",
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            assert response.status == 202
            assert json.loads(response.read())["queued"] > 0

    # Spotify down: every call answered 503 until it is back; the reshuffles' calls open circuits.
    emulator.fault("*", status=503, seconds=900)
    reshuffle_all()
    subjects = _wait_for_mail(run.inbox, 1, seconds=420)
    assert len(subjects) == 1, subjects
    assert subjects[0].startswith("[CRITICAL] CircuitBreakerOpen: ") and subjects[0].endswith(" (opened)"), subjects

    # Spotify back: the next reshuffles probe the circuits, which close; the alert resolves.
    emulator.clear_faults()
    reshuffle_all()
    subjects = _wait_for_mail(run.inbox, 2, seconds=300)
    # Anything the evaluator would send twice goes out in the same pass: give it one more.
    time.sleep(EVALUATION_SECONDS + 10)
    subjects = run.inbox.subjects()

    alerts = run.query(
        "SELECT a.subject, a.state FROM metrics_alert a JOIN metrics_alertrule r ON r.id = a.rule_id "
        "WHERE r.name = 'CircuitBreakerOpen' ORDER BY a.subject"
    )
    assert alerts and all(state == "resolved" for _, state in alerts), alerts
    # One message per event for every circuit that opened (or closed) in the same pass.
    who = alerts[0][0] if len(alerts) == 1 else f"{len(alerts)} alerts"
    assert subjects == [
        f"[CRITICAL] CircuitBreakerOpen: {who} (opened)",
        f"[CRITICAL] CircuitBreakerOpen: {who} (resolved)",
    ], subjects
    runbook = f"{demo.url}/runbooks/dead-letters-circuit-breakers.md"
    for message in run.inbox.messages:
        body = _body(message)
        assert f"Runbook: {runbook}" in body, body
        for subject, _ in alerts:
            assert subject in body, (subject, body)
        assert message["X-Rcpt-To"] == "oncall@localhost"
    with urllib.request.urlopen(runbook, timeout=10) as response:
        assert response.status == 200
