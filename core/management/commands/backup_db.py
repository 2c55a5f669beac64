from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from core.backup import database_backup, database_table_count
from core.progress import Progress


class Command(BaseCommand):
    help = "pg_dump the database to var/backups/<name>-<UTC timestamp>.dump, keeping the newest BACKUP_KEEP."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--keep", type=int, default=None, help="Archives to keep (default BACKUP_KEEP).")

    def handle(self, *args: Any, keep: int | None = None, **options: Any) -> None:
        with Progress(total=database_table_count(), desc="Dumping", unit="tables", stream=self.stderr) as progress:
            path = database_backup(keep=keep, on_table=lambda _: progress.update())
        self.stdout.write(str(path))
