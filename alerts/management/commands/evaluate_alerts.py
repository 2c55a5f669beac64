from __future__ import annotations

import json
import logging
import time
from typing import Any

from django.core.management.base import BaseCommand, CommandParser
from django.db import close_old_connections

from alerts.evaluator import alerts_evaluate
from alerts.grace import evaluator_started
from core.deploys import process_start_record

logger = logging.getLogger(__name__)


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
            if not options["loop"]:
                self.stdout.write(json.dumps(alerts_evaluate(), default=str))
                return
            # A connection PostgreSQL ended (a restart) is dropped before the round, not reused.
            close_old_connections()
            try:
                self.stdout.write(json.dumps(alerts_evaluate(), default=str))
            except Exception:
                # Redis or PostgreSQL away for a moment: the next round tries again. The loop is the
                # one process left to notice NoWorkers and BeatGone; it must not exit on a restart
                # of a store (the chaos soak saw it exit on every Redis and PostgreSQL restart).
                logger.exception("alert evaluation failed; the next round tries again")
            time.sleep(max(5.0, options["interval"]))
