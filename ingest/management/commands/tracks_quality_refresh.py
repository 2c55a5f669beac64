"""`manage.py tracks_quality_refresh`: score every track again (after an upgrade or a rule change)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from core.progress import Progress
from ingest.models import Track
from ingest.quality import tracks_quality_refresh_all, tracks_quality_tally


class Command(BaseCommand):
    help = "Recompute the data-quality score, issues and tier of every track (bulk SQL, in slices); prints counts by tier."

    def handle(self, *args: Any, **options: Any) -> None:
        with Progress(total=Track.objects.count(), desc="Rescoring", unit="tracks", stream=self.stderr) as progress:
            changed = tracks_quality_refresh_all(on_slice=progress.update)
        counts = tracks_quality_tally().counts
        self.stdout.write(f"{changed} tracks rescored; " + ", ".join(f"{tier}: {n}" for tier, n in counts.items()))
