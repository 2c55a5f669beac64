"""`manage.py clear_lockout --username olive` / `--ip 203.0.113.5`: end a login lockout, audited."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from audit.lockouts import lockout_clear
from core.actors import cli_actor


class Command(BaseCommand):
    help = "Clear the login lockout of a username and/or a client address (audited)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--username", default="", help="The username typed at the login (it need not exist).")
        parser.add_argument("--ip", default="", dest="ip_address", help="The client address, as the lockout list shows it.")

    def handle(self, *args: Any, username: str, ip_address: str, **options: Any) -> None:
        if not username and not ip_address:
            raise CommandError("Name --username, --ip, or both.")
        count = lockout_clear(actor=cli_actor(), username=username, ip_address=ip_address)
        self.stdout.write(f"Cleared {count} lockout record(s) for {' / '.join(p for p in (username, ip_address) if p)}.")
