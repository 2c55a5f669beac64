from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from jobs.models import JobRun
from jobs.services import job_enqueue

FIRST_BOOT_JOBS = [
    "refresh_tokens",
    "ingest_albums_from_sources",
    "fetch_audio_features",
    "build_playlist_snapshot",
    "ensure_playlist_for_account",
    "metrics_snapshot",
]


class Command(BaseCommand):
    help = "Run the daily pipeline once through the Celery worker, job after job (the demo's first boot)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--mark-done", help="File to create when every job finished.")
        parser.add_argument("--timeout", type=float, default=180.0, help="Seconds to wait for each job.")

    def handle(self, *args: Any, mark_done: str | None = None, timeout: float = 180.0, **options: Any) -> None:
        failures = 0
        for job in FIRST_BOOT_JOBS:
            run = job_enqueue(job, trigger=JobRun.Trigger.MANUAL, triggered_by="demo first boot")
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                run.refresh_from_db()
                if run.status in (JobRun.Status.SUCCESS, JobRun.Status.FAILED):
                    break
                time.sleep(0.5)
            self.stdout.write(f"[pipeline] {job}: {run.status} {run.summary or run.error[:200]}")
            failures += run.status != JobRun.Status.SUCCESS
        if mark_done and not failures:
            Path(mark_done).touch()
