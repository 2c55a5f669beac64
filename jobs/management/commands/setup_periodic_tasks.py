from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from jobs.schedule import schedule_sync


class Command(BaseCommand):
    help = "Create or update the django-celery-beat rows for every job (idempotent; keeps operators' enabled toggles)."

    def handle(self, *args: Any, **options: Any) -> None:
        result = schedule_sync()
        self.stdout.write(
            f"periodic tasks: {result['created']} created, {result['updated']} updated, {result['unchanged']} unchanged"
        )
