from __future__ import annotations

import json
import time
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from alerts.evaluator import alerts_evaluate
from alerts.grace import evaluator_started
from core.deploys import process_start_record


class Command(BaseCommand):
    help = (
        "Evaluate the alert rules once (or forever with --loop). The scheduled `evaluate_alerts` job runs on a "
        "worker, so it cannot notice that no worker or no beat is left: run this from cron or as its own process "
        "for NoWorkers and BeatGone (docs/runbooks/alerts.md). Shares the job's lock: never notifies twice."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--loop", action="store_true", help="Keep evaluating every --interval seconds.")
        parser.add_argument("--interval", type=float, default=60.0)

    def handle(self, *args: Any, **options: Any) -> None:
        evaluator_started()  # the startup grace counts from here (alerts/grace.py)
        if options["loop"]:
            # A long-lived process of the stack: its start is a deploy marker (a cron one-shot is not).
            process_start_record(kind="evaluator")
        while True:
            self.stdout.write(json.dumps(alerts_evaluate(), default=str))
            if not options["loop"]:
                return
            time.sleep(max(5.0, options["interval"]))
