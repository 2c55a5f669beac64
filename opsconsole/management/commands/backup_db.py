from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from opsconsole.backup import database_backup


class Command(BaseCommand):
    help = "pg_dump the database to var/backups/<name>-<UTC timestamp>.dump, keeping the newest BACKUP_KEEP."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--keep", type=int, default=None, help="Archives to keep (default BACKUP_KEEP).")

    def handle(self, *args: Any, keep: int | None = None, **options: Any) -> None:
        self.stdout.write(str(database_backup(keep=keep)))
