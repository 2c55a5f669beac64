from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from alerts.models import AlertRule
from alerts.prometheus_rules import prometheus_rules_render


class Command(BaseCommand):
    help = (
        "Write the Prometheus rule file of the console's alert rules (enabled ones; same thresholds, `for:` from "
        "the pending period, severity label, summary/description/runbook_url annotations) to --output or stdout. "
        "deploy/prometheus/alerts.yml is its output for the built-in rules (docs/runbooks/prometheus.md)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--output", default="", help="Write the file here instead of to stdout.")

    def handle(self, *args: Any, **options: Any) -> None:
        rules = prometheus_rules_render(AlertRule.objects.all())
        for name in rules.unexportable:
            self.stderr.write(f"{name}: its kind has no Prometheus expression yet; left out")
        if not options["output"]:
            self.stdout.write(rules.text, ending="")
            return
        Path(options["output"]).write_text(rules.text, encoding="utf-8")
        self.stderr.write(f"{len(rules.exported)} rule(s) written to {options['output']}")
