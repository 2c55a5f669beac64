"""API tokens, created and revoked: the one path behind `manage.py create_api_token` and the
admin's token list, each step audited without the key (docs/runbooks/api-tokens-access.md).
The token itself, its lookup and its scope check are core's (core.models.ApiToken,
core.authentication, core.permissions)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from audit.services import audit_record
from core.models import ApiToken
from core.permissions import user_can_operate


class ApiTokenRefused(ValueError):
    """A token that would not work, or that the user may not hold; nothing was created."""


def api_token_default_scope(user: Any) -> str:
    """The highest scope the user's role allows: operators and superusers operate, others read."""
    return ApiToken.Scope.OPERATE if user_can_operate(user) else ApiToken.Scope.READ


def _details(token: ApiToken) -> dict[str, Any]:
    # The key and its digest never reach the trail; the prefix names the token.
    return {
        "name": token.name,
        "scope": token.scope,
        "prefix": token.prefix,
        "expires_at": token.expires_at.isoformat() if token.expires_at else None,
    }


@transaction.atomic
def api_token_create(
    *,
    user: Any,
    actor: str,
    name: str = "",
    scope: str | None = None,
    expires_days: int | None = None,
    never_expires: bool = False,
    rotate: bool = False,
    rotate_all: bool = False,
) -> tuple[ApiToken, str]:
    """Mint a token for `user` and return it with its key, the only time the key exists outside
    the caller. `scope` defaults to the highest the user's role allows and may not exceed it;
    the token expires after `expires_days` (default API_TOKEN_DEFAULT_DAYS) unless
    `never_expires`. `rotate` first revokes the user's live tokens of the same name, or all of
    them with `rotate_all` (as rotating did when a user had one token).
    Raises ApiTokenRefused for a user the API would refuse or a scope above their role."""
    if not (user.is_active and user.is_staff):
        raise ApiTokenRefused(f"{user.get_username()} is not an active staff user; the API would refuse the token.")
    scope = scope or api_token_default_scope(user)
    if scope not in ApiToken.Scope.values:
        raise ApiTokenRefused(f"Unknown scope {scope!r}: read or operate.")
    if scope == ApiToken.Scope.OPERATE and not user_can_operate(user):
        raise ApiTokenRefused(
            f"{user.get_username()} may not operate (not in the operators group): an operate token would act "
            "beyond the user's role. Use --scope read, or add the user to operators first."
        )
    if expires_days is not None and expires_days <= 0:
        raise ApiTokenRefused("A token's life is a positive number of days, or never.")
    now = timezone.now()
    days = None if never_expires else (expires_days or int(settings.API_TOKEN_DEFAULT_DAYS))
    replaced = ApiToken.objects.select_related("user").filter(user=user, revoked_at__isnull=True)
    revoked = _revoke(replaced if rotate_all else replaced.filter(name=name), now) if rotate else []
    key = ApiToken.new_key()
    token = ApiToken.objects.create(
        user=user,
        name=name,
        scope=scope,
        prefix=key[: ApiToken.VISIBLE_CHARS],
        digest=ApiToken.digest_of(key),
        created_at=now,
        expires_at=now + timedelta(days=days) if days else None,
    )
    details = _details(token)
    if rotate:
        details["revoked"] = [old.prefix for old in revoked]
    audit_record(actor=actor, action="api_token.rotate" if rotate else "api_token.create", target=token, details=details)
    return token, key


@transaction.atomic
def api_tokens_revoke(*, tokens: Iterable[ApiToken], actor: str) -> int:
    """Revoke each live token of `tokens` (one audit row each); already revoked ones are left as
    they are. A revoked token answers 401 from its next request on, in every process (the
    token cache's epoch moves with the save). Returns how many were revoked."""
    revoked = _revoke(tokens, timezone.now())
    for token in revoked:
        audit_record(actor=actor, action="api_token.revoke", target=token, details=_details(token))
    return len(revoked)


def _revoke(tokens: Iterable[ApiToken], now: Any) -> list[ApiToken]:
    revoked = []
    for token in tokens:
        if token.revoked_at is None:
            token.revoked_at = now
            # save(), not a queryset update: its post_save moves the token cache's epoch.
            token.save(update_fields=["revoked_at"])
            revoked.append(token)
    return revoked
