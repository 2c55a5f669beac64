from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from core.backup import archive_table_count, database_restore
from core.progress import Progress


class Command(BaseCommand):
    help = "Restore a backup archive into the (empty) database DATABASE_URL names."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file")

    def handle(self, *args: Any, file: str, **options: Any) -> None:
        path = Path(file)
        try:
            total = archive_table_count(path=path) if path.exists() else 0
            with Progress(total=total, desc="Restoring", unit="tables", stream=self.stderr) as progress:
                database_restore(path=path, on_table=lambda _: progress.update())
        except (FileNotFoundError, RuntimeError) as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(f"restored {file}")
