"""`manage.py export_prometheus_rules`: the Prometheus rule file comes from the rule table, the
committed deploy/prometheus/alerts.yml is its output for the built-in rules, and every
expression reads a gauge that a real /metrics answer exports."""

from __future__ import annotations

import re
from datetime import timedelta
from io import StringIO
from pathlib import Path

import pytest
import yaml
from django.conf import settings
from django.contrib.auth.models import User
from django.core.management import call_command
from prometheus_client.parser import text_string_to_metric_families

from alerts.models import AlertRule
from alerts.prometheus_rules import CONSOLE_ONLY, SCRAPE_RULES, TEMPLATES
from alerts.rules import RULES, alert_rules_setup
from tests.alerts.test_alert_metrics import promtool, scrape_text

pytestmark = pytest.mark.django_db

COMMITTED = Path(settings.BASE_DIR) / "deploy" / "prometheus" / "alerts.yml"
# The committed file carries the runbook links of a console at its default address.
DEFAULT_RUNBOOK_BASE_URL = "http://127.0.0.1:8000/runbooks"


def export(*args: str) -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    call_command("export_prometheus_rules", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


@pytest.fixture
def fresh_rules(db: None, settings) -> list[AlertRule]:  # type: ignore[no-untyped-def]
    settings.RUNBOOK_BASE_URL = DEFAULT_RUNBOOK_BASE_URL
    AlertRule.objects.all().delete()
    alert_rules_setup()
    return list(AlertRule.objects.order_by("name"))


def _minutes(duration: str) -> float:
    units = {"h": 60, "m": 1, "s": 1 / 60}
    return sum(int(value) * units[unit] for value, unit in re.findall(r"(\d+)([hms])", duration))


def rules_of(text: str) -> dict[str, dict]:
    (group,) = yaml.safe_load(text)["groups"]
    return {rule["alert"]: rule for rule in group["rules"]}


def test_the_committed_rule_file_is_the_export_of_the_freshly_seeded_rules(fresh_rules: list[AlertRule]) -> None:
    text, _ = export()
    assert text == COMMITTED.read_text(), (
        "deploy/prometheus/alerts.yml is not the export of the built-in rules: on a fresh database run "
        "`python manage.py export_prometheus_rules --output deploy/prometheus/alerts.yml`"
    )


def test_every_built_in_rule_is_exported_with_its_threshold_pending_period_severity_and_runbook(
    fresh_rules: list[AlertRule],
) -> None:
    assert {spec.kind for spec in RULES} <= set(TEMPLATES) | CONSOLE_ONLY
    text, err = export()
    exported = rules_of(text)
    shared = [spec for spec in RULES if spec.kind not in CONSOLE_ONLY]
    assert set(exported) == {spec.name for spec in shared} | {rule.name for rule in SCRAPE_RULES}
    assert "no Prometheus expression" not in err
    for spec in shared:
        rule = exported[spec.name]
        assert rule["labels"] == {"severity": spec.severity}
        assert _minutes(rule.get("for", "0s")) == spec.pending_minutes
        assert rule["annotations"]["runbook_url"] == f"{DEFAULT_RUNBOOK_BASE_URL}/{spec.runbook}"
        assert rule["annotations"]["description"] == spec.description
    assert exported["EnrichmentSuccessRateLow"]["for"] == "15m"
    assert exported["DataQualityScoreLow"]["for"] == "1h"
    assert exported["DLQDepthCritical"]["expr"] == 'opsconsole_dead_letters{status="pending"} > 1000'
    assert exported["DatabaseConnectionPoolHigh"]["expr"] == "opsconsole_db_connections_used_ratio > 0.8"
    assert exported["DiskSpaceHigh"]["expr"] == "opsconsole_disk_used_ratio > 0.85"
    assert exported["CircuitBreakerOpen"]["expr"] == "opsconsole_circuit_open_seconds >= 300"


def test_an_operators_edits_are_what_prometheus_gets_and_the_file_passes_promtool(
    fresh_rules: list[AlertRule], tmp_path: Path
) -> None:
    queue = AlertRule.objects.get(name="QueueBacklog")
    queue.params = {"threshold": 250, "queue": "spotify"}
    queue.pending_for = timedelta(minutes=90)
    queue.severity = "critical"
    queue.description = "Spotify's queue:\nbacklog"
    queue.runbook = "https://wiki.example.com/ops/queues"
    queue.save()
    AlertRule.objects.filter(name="DiskSpaceHigh").update(params={"threshold": "not a number"})
    AlertRule.objects.filter(name="NoWorkers").update(enabled=False)

    output = tmp_path / "alerts.yml"
    _, err = export("--output", str(output))
    # NoWorkers disabled; the console-only duration rules are never written.
    assert f"{len([spec for spec in RULES if spec.kind not in CONSOLE_ONLY]) - 1} rule(s) written" in err
    exported = rules_of(output.read_text())
    assert exported["QueueBacklog"]["expr"] == 'opsconsole_queue_length{queue="spotify"} > 250'
    assert exported["QueueBacklog"]["for"] == "1h30m"
    assert exported["QueueBacklog"]["labels"] == {"severity": "critical"}
    assert exported["QueueBacklog"]["annotations"]["description"] == "Spotify's queue: backlog"
    assert exported["QueueBacklog"]["annotations"]["runbook_url"] == "https://wiki.example.com/ops/queues"
    # An unreadable threshold means the default, for Prometheus as for the evaluator.
    assert exported["DiskSpaceHigh"]["expr"] == "opsconsole_disk_used_ratio > 0.85"
    assert "NoWorkers" not in exported
    checked = promtool("check", "rules", str(output))
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_a_rule_whose_kind_has_no_expression_is_named_not_silently_dropped(fresh_rules: list[AlertRule]) -> None:
    AlertRule.objects.create(name="FutureRule", kind="not_a_kind_yet", severity="warning")
    text, err = export()
    assert "FutureRule: its kind has no Prometheus expression yet" in err
    assert "# FutureRule: kind not_a_kind_yet has no Prometheus expression yet" in text
    assert "FutureRule" not in rules_of(text)


def _metric_names(expr: str) -> set[str]:
    expr = re.sub(r"\{[^}]*\}", "", expr)
    expr = re.sub(r"\b(?:without|by|on|ignoring)\s*\([^)]*\)", "", expr)
    return set(re.findall(r"\b[A-Za-z_][A-Za-z0-9_]*\b(?!\s*\()", expr)) - {"and", "or", "unless", "bool"}


def test_every_expression_reads_a_gauge_that_a_real_metrics_answer_exports(fresh_rules: list[AlertRule], superuser: User) -> None:
    families = {family.name: family.type for family in text_string_to_metric_families(scrape_text(superuser))}
    read = {name for rule in rules_of(export()[0]).values() for name in _metric_names(rule["expr"])}
    assert read - {"up"} <= {name for name, kind in families.items() if kind == "gauge"}, read - set(families)
