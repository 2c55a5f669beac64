"""`manage.py tracks_quality_refresh`: score every track again (after an upgrade or a rule change)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from ingest.quality import tracks_quality_counts, tracks_quality_refresh_all


class Command(BaseCommand):
    help = "Recompute the data-quality score, issues and tier of every track (bulk SQL, in slices); prints counts by tier."

    def handle(self, *args: Any, **options: Any) -> None:
        changed = tracks_quality_refresh_all()
        counts = tracks_quality_counts()
        self.stdout.write(f"{changed} tracks rescored; " + ", ".join(f"{tier}: {n}" for tier, n in counts.items()))
