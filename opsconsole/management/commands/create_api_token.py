"""`manage.py create_api_token USER [--rotate | --revoke]`: the automation token of a staff user."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser
from rest_framework.authtoken.models import Token

from audit.services import audit_record
from core.actors import cli_actor


class Command(BaseCommand):
    help = "Print the API token of USER (created if missing). --rotate replaces it, --revoke deletes it."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("username")
        action = parser.add_mutually_exclusive_group()
        action.add_argument("--rotate", action="store_true", help="Replace an existing token with a new one.")
        action.add_argument("--revoke", action="store_true", help="Delete the user's token.")

    def handle(self, *args: Any, username: str, rotate: bool, revoke: bool, **options: Any) -> None:
        User = get_user_model()
        try:
            user = User._default_manager.get_by_natural_key(username)
        except User.DoesNotExist as exc:
            raise CommandError(f"No user {username!r}.") from exc
        if revoke:
            deleted, _ = Token.objects.filter(user=user).delete()
            self._audit("api_token.revoke", user, {"deleted": deleted})
            self.stderr.write(f"Revoked {deleted} token(s) of {username}.")
            return
        if not (user.is_active and user.is_staff):
            # The API is staff only: a token for anyone else would be refused on every call.
            raise CommandError(f"{username} is not an active staff user; the API would refuse the token.")
        if rotate:
            Token.objects.filter(user=user).delete()
        token, created = Token.objects.get_or_create(user=user)
        if created:
            self._audit("api_token.rotate" if rotate else "api_token.create", user, {})
        groups = ", ".join(user.groups.values_list("name", flat=True)) or ("superuser" if user.is_superuser else "no group")
        self.stderr.write(f"{'Created' if created else 'Existing'} token for {username} ({groups}):")
        # Only the key goes to stdout so scripts can capture it: TOKEN=$(manage.py create_api_token bot)
        self.stdout.write(token.key)

    def _audit(self, action: str, user: Any, details: dict[str, Any]) -> None:
        # Named by its owner: the key itself never reaches the audit trail.
        audit_record(
            actor=cli_actor(),
            action=action,
            target_type="API token",
            target_id=str(user.pk),
            target_repr=f"API token of {user.get_username()}",
            details=details,
        )
