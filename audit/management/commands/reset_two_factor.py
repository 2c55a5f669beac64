"""`manage.py reset_two_factor USERNAME`: break-glass removal of a user's two-factor devices, audited."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser

from audit.twofactor import twofactor_reset
from core.actors import cli_actor


class Command(BaseCommand):
    help = "Remove every two-factor device of a user (authenticator and backup codes); they enrol again at their next sign-in. Audited."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("username")

    def handle(self, *args: Any, username: str, **options: Any) -> None:
        User = get_user_model()
        user = User._default_manager.filter(**{User.USERNAME_FIELD: username}).first()
        if user is None:
            raise CommandError(f"No user {username!r}.")
        removed = twofactor_reset(user=user, actor=cli_actor())
        self.stdout.write(f"Removed {removed} two-factor device(s) of {username}; they set it up again at their next sign-in.")
