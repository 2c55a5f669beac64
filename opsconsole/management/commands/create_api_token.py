"""`manage.py create_api_token USER [--scope read|operate] [--expires DAYS|never] [--name N]
[--rotate | --revoke]`: mint (or revoke) an API token of a staff user.

The key goes to stdout once, alone, so scripts can capture it: TOKEN=$(manage.py create_api_token bot).
It is stored only as a digest: a lost key is replaced (--rotate), never shown again.
"""

from __future__ import annotations

import argparse
from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser

from audit.api_tokens import ApiTokenRefused, api_token_create, api_tokens_revoke
from core.actors import cli_actor
from core.models import ApiToken

DEFAULT_NAME = "cli"


def _expires(value: str) -> int | None:
    """DAYS (a positive number) or `never` (None); the option's default, 0, means the setting's."""
    if value.lower() == "never":
        return None
    try:
        days = int(value)
    except ValueError:
        days = 0
    if days <= 0:
        raise argparse.ArgumentTypeError(f"{value!r} is neither a positive number of days nor 'never'")
    return days


class Command(BaseCommand):
    help = (
        "Create an API token for USER and print its key once (only the key, on stdout). "
        "--rotate first revokes USER's live tokens (those named --name, when given); --revoke revokes "
        "them and creates none."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("username")
        parser.add_argument(
            "--scope",
            choices=ApiToken.Scope.values,
            help="read: GET only; operate: what the user's groups allow. Default: the highest the user's role allows.",
        )
        parser.add_argument(
            "--expires",
            type=_expires,
            default=0,
            metavar="DAYS|never",
            help="Days until the token stops working, or never. Default: API_TOKEN_DEFAULT_DAYS.",
        )
        parser.add_argument("--name", help=f"What the token is for, shown in the admin (default {DEFAULT_NAME!r}).")
        action = parser.add_mutually_exclusive_group()
        action.add_argument(
            "--rotate", action="store_true", help="Revoke USER's live tokens (of --name, when given), then create one."
        )
        action.add_argument("--revoke", action="store_true", help="Revoke USER's live tokens (of --name, when given).")

    def handle(
        self,
        *args: Any,
        username: str,
        scope: str | None,
        expires: int | None,
        name: str | None,
        rotate: bool,
        revoke: bool,
        **options: Any,
    ) -> None:
        User = get_user_model()
        try:
            user = User._default_manager.get_by_natural_key(username)
        except User.DoesNotExist as exc:
            raise CommandError(f"No user {username!r}.") from exc
        if revoke:
            tokens = ApiToken.objects.select_related("user").filter(user=user, revoked_at__isnull=True)
            if name is not None:
                tokens = tokens.filter(name=name)
            revoked = api_tokens_revoke(tokens=tokens, actor=cli_actor())
            self.stderr.write(f"Revoked {revoked} token(s) of {username}.")
            return
        try:
            token, key = api_token_create(
                user=user,
                actor=cli_actor(),
                name=DEFAULT_NAME if name is None else name,
                scope=scope,
                expires_days=expires or None,
                never_expires=expires is None,
                rotate=rotate,
                # Without --name, rotating replaces every token of the user, as it did when a user had one.
                rotate_all=rotate and name is None,
            )
        except ApiTokenRefused as exc:
            raise CommandError(str(exc)) from exc
        expiry = token.expires_at.strftime("%Y-%m-%d %H:%M UTC") if token.expires_at else "never"
        self.stderr.write(
            f"{'Rotated' if rotate else 'Created'} {token}: scope {token.scope}, expires {expiry}. "
            "The key is shown this once; store it now."
        )
        self.stdout.write(key)
