"""Accounts: token refresh (scheduled and just-in-time), health on evidence, lifecycle.

Token refresh is ours, under a per-account lock: spotipy's OAuth managers are never used
in workers (their fallback is an interactive browser flow that hangs a worker).
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from django.conf import settings
from django.db import transaction
from django.db.models import Q, QuerySet
from django.utils import timezone

from accounts.models import AccountHealthChange, SpotifyAccount, SpotifyApp
from audit.services import audit_record
from core.actors import SYSTEM_ACTOR
from core.locks import LockBusy, redis_lock
from jobs.services import job_subject_add
from spotify.auth import TokenGrant, request_client_credentials, request_token_refresh
from spotify.errors import SpotifyAuthError, SpotifyError, SpotifyInvalidGrant

if TYPE_CHECKING:
    from spotify.client import SpotifyClient
    from spotify.config import OperationLimits

logger = logging.getLogger(__name__)

Health = SpotifyAccount.Health


@dataclass(frozen=True)
class RowResult:
    """Outcome of an operation on one account, as the admin and API report it."""

    account_id: str
    label: str
    ok: bool
    detail: str


# --- Apps -----------------------------------------------------------------------------


def app_get_or_create_default() -> SpotifyApp:
    """The app the environment names (SPOTIFY_CLIENT_ID/SECRET) seeds the fleet's first app."""
    # get_or_create also covers two workers creating it at once on first boot.
    app, _ = SpotifyApp.objects.get_or_create(
        client_id=settings.SPOTIFY_CLIENT_ID,
        defaults={"name": "default", "client_secret": settings.SPOTIFY_CLIENT_SECRET, "user_cap": settings.DEV_MODE_USER_CAP},
    )
    return app


def app_record_capability(*, app: SpotifyApp, capability: str, allowed: bool) -> None:
    """Remember what the endpoint's own 403 (or, on a recheck, its success) taught us about this
    app (e.g. no several-albums endpoint), and when: a refusal is tried again after
    SPOTIFY_CAPABILITY_RECHECK_HOURS. An app that answers again is no longer degraded."""
    if app.capabilities.get(capability) == allowed and app.capability_now(capability) is not None:
        # Known already; a refusal confirmed on its recheck falls through and starts a new interval.
        return
    changed = app.capabilities.get(capability) != allowed
    app.capabilities = {**app.capabilities, capability: allowed}
    app.capabilities_checked_at = {**app.capabilities_checked_at, capability: timezone.now().isoformat()}
    SpotifyApp.objects.filter(pk=app.pk).update(
        capabilities=app.capabilities, capabilities_checked_at=app.capabilities_checked_at
    )
    logger.warning("spotify app capability learned", extra={"app": app.name, "capability": capability, "allowed": allowed})
    if changed:
        # Spotify's answer, not a person's act: the system door (the incident timeline reads it).
        audit_record(
            actor=SYSTEM_ACTOR,
            action="spotify_app.capability",
            target=app,
            details={"capability": capability, "allowed": allowed},
        )


def app_set_health(*, app: SpotifyApp, degraded: bool, reason: str = "") -> None:
    """Degraded: Spotify refuses the app on every call (403 there and on the call every app may
    make, as when a Development Mode app's owner loses Premium); not a missing capability."""
    health, reason = ("degraded", reason[:500]) if degraded else ("ok", "")
    if (app.health, app.health_reason) == (health, reason):
        return
    if app.health != health:
        logger.warning("spotify app health changed", extra={"app": app.name, "to": health, "reason": reason})
    app.health, app.health_reason = health, reason
    SpotifyApp.objects.filter(pk=app.pk).update(health=health, health_reason=reason)


def app_free_slots(*, app: SpotifyApp) -> int:
    return max(app.user_cap - app.accounts.filter(is_active=True).count(), 0)


# --- Tokens ---------------------------------------------------------------------------


def _apply_grant(account: SpotifyAccount, grant: TokenGrant) -> None:
    now = timezone.now()
    account.access_token = grant.access_token
    # Spotify may rotate the refresh token; when the response has none the old one stays valid.
    if grant.refresh_token:
        account.refresh_token = grant.refresh_token
    account.token_expires_at = now + timedelta(seconds=grant.expires_in)
    if grant.scope:
        account.scopes = grant.scope
    account.last_refreshed_at = now


def account_refresh_token(*, account: SpotifyAccount, force: bool = False) -> SpotifyAccount:
    """Refresh one account's access token under its lock and persist the result.

    Without `force`, a token another worker refreshed meanwhile is kept. A revoked or
    expired refresh token (invalid_grant) marks the account reauth_required and raises.
    """
    with redis_lock(f"token-refresh:{account.pk}", ttl_seconds=60):
        account.refresh_from_db()
        if not force and not account.token_is_stale:
            return account
        try:
            grant = request_token_refresh(
                client_id=account.app.client_id,
                client_secret=account.app.client_secret,
                refresh_token=account.refresh_token,
                limits=_connector_limits("spotify.token"),
            )
        except SpotifyInvalidGrant as exc:
            account_set_health(
                account=account,
                health=Health.REAUTH_REQUIRED,
                reason=f"Spotify refused the refresh token (invalid_grant): {exc}. The user must authorize again.",
            )
            raise
        except SpotifyError as exc:
            account_record_failure(account=account, error=f"token refresh failed: {exc}")
            raise
        _apply_grant(account, grant)
        account.save(
            update_fields=["access_token", "refresh_token", "token_expires_at", "scopes", "last_refreshed_at", "updated_at"]
        )
        account_record_success(account=account)
        return account


def accounts_due_for_refresh(*, now: datetime | None = None) -> QuerySet[SpotifyAccount]:
    """Tokens expiring before the next 30-minute run plus a margin (a bare 5-minute window at a 30-minute cadence would let tokens lapse)."""
    now = now or timezone.now()
    horizon = now + timedelta(minutes=30 + settings.TOKEN_REFRESH_MARGIN_MINUTES)
    return (
        SpotifyAccount.objects.filter(is_active=True)
        .exclude(health=Health.REAUTH_REQUIRED)
        .filter(Q(token_expires_at__isnull=True) | Q(token_expires_at__lte=horizon))
        .select_related("app")
        .order_by("token_expires_at")
    )


def accounts_refresh_tokens(
    *, accounts: QuerySet[SpotifyAccount] | list[SpotifyAccount] | None = None, force: bool = False
) -> list[RowResult]:
    """Refresh each account; one account's failure never stops the others."""
    targets = list(accounts if accounts is not None else accounts_due_for_refresh())
    job_subject_add(accounts=[str(account.pk) for account in targets])
    results: list[RowResult] = []
    for account in targets:
        try:
            account_refresh_token(account=account, force=force)
        except LockBusy:
            results.append(RowResult(str(account.pk), account.display_name, True, "refresh already in progress"))
        except SpotifyInvalidGrant:
            results.append(RowResult(str(account.pk), account.display_name, False, "re-authorization required (invalid_grant)"))
        except SpotifyError as exc:
            results.append(RowResult(str(account.pk), account.display_name, False, str(exc)))
        else:
            results.append(RowResult(str(account.pk), account.display_name, True, "refreshed"))
    return results


def account_access_token(*, account: SpotifyAccount, force_refresh: bool = False) -> str:
    """A usable access token, refreshed just in time when stale (or when Spotify said 401)."""
    if force_refresh or account.token_is_stale:
        try:
            account_refresh_token(account=account, force=force_refresh)
        except LockBusy:
            # Another worker is refreshing this account right now: wait briefly for its result.
            for _ in range(50):
                time.sleep(0.1)
                account.refresh_from_db()
                if not account.token_is_stale:
                    break
    return account.access_token


def _connector_limits(name: str) -> OperationLimits:
    """Timeout/attempts/cooldown of one operation from the connector settings (ingest app)."""
    from spotify.connectors import connector_limits

    return connector_limits(name)


def spotify_client_for_account(account: SpotifyAccount) -> SpotifyClient:
    from spotify.client import SpotifyClient

    def provide(force_refresh: bool) -> str:
        return account_access_token(account=account, force_refresh=force_refresh)

    app_key, account_key = account_bucket_keys(account)
    return SpotifyClient(app_key=app_key, account_key=account_key, token_provider=provide, limits=_connector_limits)


def account_bucket_keys(account: SpotifyAccount) -> tuple[str, str]:
    """The rate-limit buckets (app, account) every call on this account's behalf takes from."""
    return str(account.app_id), str(account.pk)


_catalog_tokens: dict[int, tuple[str, float]] = {}
_catalog_lock = threading.Lock()


def spotify_client_for_catalog(app: SpotifyApp | None = None) -> SpotifyClient:
    """Client-credentials client for catalog reads; the token lives only in process memory."""
    from spotify.client import SpotifyClient

    app = app or app_get_or_create_default()

    def provide(force_refresh: bool) -> str:
        with _catalog_lock:
            cached = _catalog_tokens.get(app.pk)
            if cached and not force_refresh and cached[1] > time.monotonic() + 60:
                return cached[0]
            grant = request_client_credentials(
                client_id=app.client_id, client_secret=app.client_secret, limits=_connector_limits("spotify.token")
            )
            _catalog_tokens[app.pk] = (grant.access_token, time.monotonic() + grant.expires_in)
            return grant.access_token

    def learned(capability: str, allowed: bool) -> None:
        app_record_capability(app=app, capability=capability, allowed=allowed)

    # The client skips what the app is known to lack and reports what a 403 teaches it.
    return SpotifyClient(
        app_key=str(app.pk),
        token_provider=provide,
        capabilities=app.capabilities_now(),
        on_capability=learned,
        limits=_connector_limits,
    )


# --- Health ---------------------------------------------------------------------------


def account_health_record(*, account: SpotifyAccount, previous: str, reason: str, actor: str = "") -> None:
    """The one record of a health move (the account already holds its new health): a log line
    and an AccountHealthChange row, the account's health history. `actor` only when a person moved it."""
    logger.warning(
        "account health changed",
        extra={"account_id": str(account.pk), "from": previous or "new", "to": account.health, "reason": reason},
    )
    AccountHealthChange.objects.create(
        account=account,
        at=account.health_changed_at or timezone.now(),
        from_health=previous,
        to_health=account.health,
        reason=reason[:500],
        actor=actor[:150],
    )


def account_set_health(*, account: SpotifyAccount, health: str, reason: str) -> None:
    now = timezone.now()
    previous = account.health
    if previous != health:
        account.health_changed_at = now
    account.health = health
    account.health_reason = reason[:500]
    account.last_error = reason
    account.last_error_at = now
    SpotifyAccount.objects.filter(pk=account.pk).update(
        health=health,
        health_reason=account.health_reason,
        health_changed_at=account.health_changed_at,
        last_error=reason,
        last_error_at=now,
        updated_at=now,
    )
    if previous != health:
        account_health_record(account=account, previous=previous, reason=account.health_reason)


def account_record_failure(*, account: SpotifyAccount, error: str, auth: bool = False) -> None:
    """Health moves on evidence: repeated errors degrade, then quarantine; auth failures need re-authorization."""
    if auth:
        account_set_health(account=account, health=Health.REAUTH_REQUIRED, reason=error)
        return
    now = timezone.now()
    failures = account.consecutive_failures + 1
    SpotifyAccount.objects.filter(pk=account.pk).update(consecutive_failures=failures, last_error=error, last_error_at=now)
    account.consecutive_failures, account.last_error, account.last_error_at = failures, error, now
    if account.health in (Health.QUARANTINED, Health.REAUTH_REQUIRED):
        return
    if failures >= settings.ACCOUNT_QUARANTINE_AFTER_FAILURES:
        account_set_health(account=account, health=Health.QUARANTINED, reason=f"{failures} consecutive failures; last: {error}")
    elif failures >= settings.ACCOUNT_DEGRADED_AFTER_FAILURES and account.health == Health.OK:
        account_set_health(account=account, health=Health.DEGRADED, reason=f"{failures} consecutive failures; last: {error}")


def account_record_success(*, account: SpotifyAccount) -> None:
    """A success clears the failure streak; a degraded account recovers, quarantine needs an operator."""
    updates: dict[str, object] = {"consecutive_failures": 0}
    previous = account.health
    if previous == Health.DEGRADED:
        updates.update(health=Health.OK, health_reason="", health_changed_at=timezone.now())
    if account.consecutive_failures or "health" in updates:
        SpotifyAccount.objects.filter(pk=account.pk).update(**updates)
        for name, value in updates.items():
            setattr(account, name, value)
    if "health" in updates:
        account_health_record(account=account, previous=previous, reason="a call succeeded")


# --- Lifecycle (operator actions) -----------------------------------------------------


@transaction.atomic
def account_deactivate(*, account: SpotifyAccount, reason: str = "") -> bool:
    """Soft: the account stops being scheduled; its playlists and history stay."""
    if not account.is_active:
        return False
    account.is_active = False
    account.health_reason = reason or account.health_reason
    account.save(update_fields=["is_active", "health_reason", "updated_at"])
    return True


@transaction.atomic
def account_reactivate(*, account: SpotifyAccount) -> bool:
    if account.is_active:
        return False
    if account.app.user_cap and app_free_slots(app=account.app) <= 0:
        raise ValueError(f"app {account.app.name} is at its cap of {account.app.user_cap} active accounts")
    account.is_active = True
    account.save(update_fields=["is_active", "updated_at"])
    return True


@transaction.atomic
def account_release_quarantine(*, account: SpotifyAccount, actor: str = "") -> bool:
    """An operator decides the account may work again: health ok, failure streak cleared."""
    previous = account.health
    if previous not in (Health.QUARANTINED, Health.DEGRADED):
        return False
    account.health = Health.OK
    account.health_reason = ""
    account.health_changed_at = timezone.now()
    account.consecutive_failures = 0
    account.save(update_fields=["health", "health_reason", "health_changed_at", "consecutive_failures", "updated_at"])
    account_health_record(account=account, previous=previous, reason="quarantine released", actor=actor)
    return True


def account_onboard(
    *,
    app: SpotifyApp,
    spotify_user_id: str,
    display_name: str,
    refresh_token: str,
    scopes: str = "",
    authorized_at: datetime | None = None,
) -> SpotifyAccount:
    """Add (or update) an account authorized on `app`; never beyond the app's user cap."""
    existing = SpotifyAccount.objects.filter(spotify_user_id=spotify_user_id).first()
    if existing is None and app_free_slots(app=app) <= 0:
        raise ValueError(f"app {app.name} already has {app.user_cap} authorized users (its cap)")
    account, _ = SpotifyAccount.objects.update_or_create(
        spotify_user_id=spotify_user_id,
        defaults={
            "app": app,
            "display_name": display_name,
            "refresh_token": refresh_token,
            "scopes": scopes,
            "authorized_at": authorized_at or timezone.now(),
            "token_expires_at": None,
        },
    )
    return account


def ratelimit_clear_block(*, kind: str, ident: str, actor: str) -> None:
    """After an incident: let an app or account call Spotify again before its Retry-After ends (audited)."""
    from spotify.ratelimit import bucket_clear_block

    bucket_clear_block(kind, ident)  # type: ignore[arg-type]
    logger.warning("rate-limit block cleared", extra={"kind": kind, "ident": ident, "actor": actor})
    target: SpotifyApp | SpotifyAccount | None = (
        SpotifyApp.objects.filter(pk=ident).first() if kind == "app" else SpotifyAccount.objects.filter(pk=ident).first()
    )
    audit_record(
        actor=actor,
        action="rate_limit.clear_block",
        target=target,
        target_type="" if target else f"{kind} bucket",
        target_id="" if target else ident,
        target_repr=target.display_name if isinstance(target, SpotifyAccount) else "",
        details={"bucket": kind},
    )


def accounts_reencrypt_tokens() -> int:
    """After adding a new first key to TOKEN_ENCRYPTION_KEYS: rewrite every token under it."""
    count = 0
    for app in SpotifyApp.objects.all():
        app.save(update_fields=["client_secret"])
    for account in SpotifyAccount.objects.all().iterator():
        # Loading decrypts with any key; saving encrypts with the first.
        account.save(update_fields=["access_token", "refresh_token"])
        count += 1
    return count


__all__ = [
    "RowResult",
    "SpotifyAuthError",
    "account_access_token",
    "account_deactivate",
    "account_onboard",
    "account_reactivate",
    "account_record_failure",
    "account_record_success",
    "account_refresh_token",
    "account_health_record",
    "account_release_quarantine",
    "account_set_health",
    "accounts_due_for_refresh",
    "accounts_reencrypt_tokens",
    "accounts_refresh_tokens",
    "app_get_or_create_default",
    "app_record_capability",
    "app_set_health",
    "spotify_client_for_account",
    "ratelimit_clear_block",
    "spotify_client_for_catalog",
]
