from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from opsconsole.backup import database_restore


class Command(BaseCommand):
    help = "Restore a backup archive into the (empty) database DATABASE_URL names."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file")

    def handle(self, *args: Any, file: str, **options: Any) -> None:
        try:
            database_restore(path=Path(file))
        except (FileNotFoundError, RuntimeError) as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(f"restored {file}")
