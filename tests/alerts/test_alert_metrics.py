"""Metrics to alert on, the shipped Prometheus rules (promtool), job_runs_total as a true counter,
and failing channels in /api/health."""

from __future__ import annotations

import shutil
import subprocess
from datetime import timedelta
from pathlib import Path

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.utils import timezone
from prometheus_client.parser import text_string_to_metric_families

from alerts.evaluator import alerts_evaluate
from alerts.prometheus_rules import CONSOLE_ONLY, SCRAPE_RULES
from alerts.rules import RULES
from alerts.services import channel_create
from jobs import services as job_services
from jobs.models import JobRun
from tests.fixtures_alerts import make_dead_letters, rule_only

pytestmark = pytest.mark.django_db
RULES_DIR = Path(__file__).resolve().parents[2] / "deploy" / "prometheus"


def promtool(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    # `make test` installs Debian's prometheus package (make promtool) before the suite runs.
    binary = shutil.which("promtool")
    assert binary, "promtool is missing: run `make promtool` (Debian's prometheus package)"
    return subprocess.run([binary, *args], input=stdin, capture_output=True, text=True, cwd=RULES_DIR, timeout=60)


def scrape_text(user: User) -> str:
    client = Client()
    client.force_login(user)
    response = client.get("/metrics")
    assert response.status_code == 200
    return response.content.decode()


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def test_the_shipped_rules_pass_promtool_check_and_their_unit_tests() -> None:
    checked = promtool("check", "rules", "alerts.yml")
    assert checked.returncode == 0, checked.stdout + checked.stderr
    exported = [spec for spec in RULES if spec.kind not in CONSOLE_ONLY]
    assert f"SUCCESS: {len(exported) + len(SCRAPE_RULES)} rules found" in checked.stdout
    tested = promtool("test", "rules", "alerts_test.yml")
    assert tested.returncode == 0, tested.stdout + tested.stderr


def test_a_real_metrics_answer_passes_promtool_check_metrics_and_has_the_alerting_gauges(superuser: User, settings) -> None:  # type: ignore[no-untyped-def]
    rule_only("DLQDepthWarning", channels=[], params={"threshold": 1})
    make_dead_letters(3)
    alerts_evaluate()
    text = scrape_text(superuser)
    linted = promtool("check", "metrics", stdin=text)
    assert linted.returncode == 0, linted.stdout + linted.stderr
    metrics = samples(text)
    assert metrics[("opsconsole_alerts_open", (("severity", "warning"),))] == 1
    assert metrics[("opsconsole_alerts_open", (("severity", "critical"),))] == 0
    assert metrics[("opsconsole_dead_letters", (("status", "pending"),))] == 3
    assert metrics[("opsconsole_circuit_open", (("breaker", "spotify.albums"),))] == 0
    assert metrics[("opsconsole_workers_up", ())] == 0
    assert metrics[("opsconsole_beat_up", ())] == 0
    assert metrics[("opsconsole_accounts_reauth_due", ())] == 0
    assert ("opsconsole_queue_length", (("queue", "default"),)) in metrics


def test_job_runs_total_counts_finished_runs_and_the_retention_prune_never_lowers_it(superuser: User) -> None:
    for i, status in enumerate(["success", "success", "failed"]):
        job_services.job_run_started(
            task_id=f"t{i}",
            task_name="refresh_tokens",
            args=[],
            kwargs={},
            trigger="schedule",
            triggered_by="",
            correlation_id="",
            worker="w",
        )
        job_services.job_run_finished(task_id=f"t{i}", status=status)
    key_ok = ("job_runs_total", (("job", "refresh_tokens"), ("status", "success")))
    key_failed = ("job_runs_total", (("job", "refresh_tokens"), ("status", "failed")))
    before = samples(scrape_text(superuser))
    assert (before[key_ok], before[key_failed]) == (2, 1)
    last_success = before[("opsconsole_job_last_success_timestamp_seconds", (("job", "refresh_tokens"),))]
    assert last_success == pytest.approx(timezone.now().timestamp(), abs=60)

    JobRun.objects.all().delete()  # what the retention prune does to old history
    after = samples(scrape_text(superuser))
    assert (after[key_ok], after[key_failed]) == (2, 1)


def test_a_channel_failing_longer_than_a_rule_interval_shows_in_health(superuser: User) -> None:
    channel = channel_create(kind="email", name="mail", target="oncall@example.com", actor="cli:test")
    rule = rule_only("DLQDepthWarning", channels=[channel])
    staff = Client()
    staff.force_login(superuser)
    channel.failing_since = timezone.now() - rule.reminder_interval + timedelta(minutes=5)
    channel.last_error = "SMTPConnectError"
    channel.save()
    assert staff.get("/api/health").json()["alerts"]["failing_channels"] == []

    channel.failing_since = timezone.now() - rule.reminder_interval - timedelta(minutes=1)
    channel.save()
    payload = staff.get("/api/health").json()
    assert [c["name"] for c in payload["alerts"]["failing_channels"]] == ["mail"]
    assert "alert_channels" in payload["problems"] and payload["status"] == "degraded"
    assert "oncall@example.com" not in str(payload)
    dashboard = staff.get("/admin/metrics/metricsnapshot/dashboard/").content.decode()
    assert 'id="panel-alerts"' in dashboard and "Channel mail failing since" in dashboard
