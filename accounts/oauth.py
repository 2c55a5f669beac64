"""Connect and re-authorize accounts: the OAuth Authorization Code flow with PKCE.

An operator asks for a link (`authorization_request_create`); the account's owner opens it,
logs in to Spotify and agrees; Spotify sends the browser to /oauth/spotify/callback, whose
view hands the query to `authorization_complete`. The `state` is the callback's credential:
random, single-use, expiring, stored as its SHA-256. The code verifier is stored encrypted and
leaves the database only for the code exchange. Runbooks: docs/runbooks/connect-account.md,
docs/runbooks/reauthorize-account.md.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Q, QuerySet
from django.utils import timezone

from accounts.models import AuthorizationRequest, SpotifyAccount, SpotifyApp
from accounts.services import account_health_record, app_free_slots
from audit.services import audit_record
from spotify.auth import (
    REQUIRED_SCOPES,
    TokenGrant,
    authorize_url,
    new_code_verifier,
    request_authorization_code_grant,
)
from spotify.connectors import connector_limits
from spotify.errors import SpotifyError, SpotifyForbidden, SpotifyInvalidGrant
from spotify.previews import CallPlan

if TYPE_CHECKING:
    from accounts.models import SpotifyAccount as Account

logger = logging.getLogger(__name__)

Status = AuthorizationRequest.Status
Kind = AuthorizationRequest.Kind
Health = SpotifyAccount.Health
MISSING_SCOPES = "missing scopes:"


class AuthorizationRefused(ValueError):
    """The console will not send anyone to Spotify for this (cap reached, wrong app, ...)."""


@dataclass(frozen=True)
class AuthorizationLink:
    request: AuthorizationRequest
    # The link carries the state (the callback's credential): shown once, never logged.
    authorize_url: str = field(repr=False)


@dataclass(frozen=True)
class AuthorizationOutcome:
    """What the callback page tells the person who came back from Spotify."""

    ok: bool
    status_code: int
    title: str
    message: str
    account: SpotifyAccount | None = None
    request: AuthorizationRequest | None = None


def _state_hash(state: str) -> str:
    return hashlib.sha256(state.encode()).hexdigest()


def _missing_scopes(granted: str) -> list[str]:
    have = set(granted.split())
    return [scope for scope in REQUIRED_SCOPES if scope not in have]


def accounts_reauthorize_due() -> QuerySet[SpotifyAccount]:
    """Accounts to re-authorize: refused by Spotify (reauth_required), within REAUTH_WARNING_DAYS
    of their refresh token's six-month end, or degraded for scopes they were not granted."""
    from accounts.models import REFRESH_TOKEN_LIFETIME

    cutoff = timezone.now() - REFRESH_TOKEN_LIFETIME + timedelta(days=settings.REAUTH_WARNING_DAYS)
    return SpotifyAccount.objects.filter(
        Q(health=Health.REAUTH_REQUIRED)
        | Q(authorized_at__lte=cutoff)
        | Q(health=Health.DEGRADED, health_reason__startswith=MISSING_SCOPES)
    )


def accounts_reauthorize_split(accounts: QuerySet[SpotifyAccount]) -> tuple[list[SpotifyAccount], list[SpotifyAccount]]:
    """(due, not due) of `accounts` by accounts_reauthorize_due: the admin's Re-authorize makes a
    link for each due one, and its dry run lists them."""
    due = set(accounts_reauthorize_due().filter(pk__in=accounts.values("pk")).values_list("pk", flat=True))
    chosen = list(accounts.select_related("app").order_by("display_name", "pk"))
    return [a for a in chosen if a.pk in due], [a for a in chosen if a.pk not in due]


def reauthorize_preview(*, accounts: QuerySet[SpotifyAccount]) -> dict[str, Any]:
    """What Re-authorize would do (spotify.previews.CallPlan's shape): a link per due account for
    its owner to open; no Spotify call until they do."""
    due, not_due = accounts_reauthorize_split(accounts)
    plan = CallPlan()
    for account in due:
        plan.add(account.display_name, app_key=str(account.app_id), calls_min=0, calls_max=0)
    if not_due:
        plan.skip("not due for re-authorization", len(not_due))
    plan.notes.append(
        f"0 Spotify calls: one link per account, valid {settings.SPOTIFY_AUTHORIZE_LINK_HOURS} h, for its owner to open."
    )
    return plan.as_dict()


def authorization_request_create(*, app: SpotifyApp, actor: str, account: Account | None = None) -> AuthorizationLink:
    """A new connect (no `account`) or re-authorize link for `app`, valid for SPOTIFY_AUTHORIZE_LINK_HOURS.

    A connect on an app at its user cap is refused (AuthorizationRefused, audited) before anyone
    is sent to Spotify. Returns the request and the Spotify authorize URL (shown once: it is
    not stored). `actor` comes from core.actors; the callback acts in its name.
    """
    kind = Kind.REAUTHORIZE if account is not None else Kind.CONNECT
    if account is not None and account.app_id != app.pk:
        raise AuthorizationRefused(f"account {account} belongs to app {account.app}, not {app}")
    if account is None and app_free_slots(app=app) <= 0:
        reason = f"app {app.name} already has {app.user_cap} authorized users (its cap): no one more can connect"
        audit_record(
            actor=actor, action="authorization.request", target=app, outcome="refused", details={"kind": kind, "reason": reason}
        )
        raise AuthorizationRefused(reason)
    state, verifier = secrets.token_urlsafe(32), new_code_verifier()
    with transaction.atomic():
        request = AuthorizationRequest.objects.create(
            app=app,
            kind=kind,
            account=account,
            state_hash=_state_hash(state),
            code_verifier=verifier,
            scopes=settings.SPOTIFY_SCOPES,
            redirect_uri=settings.SPOTIFY_REDIRECT_URI,
            created_by=actor,
            expires_at=timezone.now() + timedelta(hours=settings.SPOTIFY_AUTHORIZE_LINK_HOURS),
        )
        audit_record(
            actor=actor,
            action="authorization.request",
            target=account or app,
            details={"kind": kind, "request_id": str(request.pk), "app": app.name, "expires_at": request.expires_at.isoformat()},
        )
    url = authorize_url(
        client_id=app.client_id,
        redirect_uri=request.redirect_uri,
        scope=request.scopes,
        state=state,
        code_verifier=verifier,
        # Spotify would otherwise skip the dialog for a user who agreed before: the owner
        # gets the chance to switch to the right Spotify account.
        show_dialog=True,
    )
    return AuthorizationLink(request=request, authorize_url=url)


def authorization_requests_by_status(
    queryset: QuerySet[AuthorizationRequest], status: str | None
) -> QuerySet[AuthorizationRequest]:
    """Filter by status as people read it: a pending request past its expiry is expired."""
    now = timezone.now()
    if status == Status.PENDING:
        return queryset.filter(status=Status.PENDING, expires_at__gt=now)
    if status == Status.EXPIRED:
        return queryset.filter(Q(status=Status.EXPIRED) | Q(status=Status.PENDING, expires_at__lte=now))
    if status:
        return queryset.filter(status=status)
    return queryset


@transaction.atomic
def authorization_request_revoke(*, request: AuthorizationRequest, actor: str) -> bool:
    """A pending link stops working (failed, "revoked by ..."); anything else is left as it is."""
    updated = AuthorizationRequest.objects.filter(pk=request.pk, status=Status.PENDING).update(
        status=Status.FAILED, status_reason=f"revoked by {actor}", completed_at=timezone.now()
    )
    if updated:
        request.refresh_from_db()
        audit_record(actor=actor, action="authorization.revoke", target=request, details={"app": request.app.name})
    return bool(updated)


def authorization_complete(*, state: str, code: str = "", error: str = "") -> AuthorizationOutcome:
    """The callback: Spotify's answer for one link. Never raises for what arrives in the query.

    Unknown, expired or used `state` → 400 and nothing changes. `error` (access_denied) →
    denied. Otherwise the code is exchanged (with the verifier and client authentication),
    `GET /v1/me` names the user, and the account is created — or, for the same Spotify user
    on the same app, re-authorized — unless the app's cap, a Development Mode 403, or a
    re-authorization by a different user refuses it (request failed, account untouched).
    """
    if not state:
        return _bad_state("The link has no state: it did not come from the console.")
    with transaction.atomic():
        request = (
            AuthorizationRequest.objects.select_for_update(of=("self",))
            .select_related("app", "account")
            .filter(state_hash=_state_hash(state))
            .first()
        )
        if request is None:
            logger.warning("authorization callback with an unknown state")
            return _bad_state("This link is not one the console made, or it was replaced.")
        if request.status != Status.PENDING:
            return _bad_state(f"This link was already used ({request.get_status_display().lower()}).", request=request)
        if request.expires_at <= timezone.now():
            _finish(request, Status.EXPIRED, "the link expired before it was used")
            return _bad_state("This link has expired. Ask an operator for a new one.", request=request)
        if error:
            return _denied(request, error)
        if not code:
            _finish(request, Status.FAILED, "Spotify answered without a code")
            return _page(request, 400, "Authorization failed", "Spotify answered without an authorization code.")
        return _exchange_and_store(request, code)


def _bad_state(message: str, *, request: AuthorizationRequest | None = None) -> AuthorizationOutcome:
    return AuthorizationOutcome(False, 400, "This link cannot be used", message, request=request)


def _page(request: AuthorizationRequest, status_code: int, title: str, message: str) -> AuthorizationOutcome:
    return AuthorizationOutcome(False, status_code, title, message, request=request)


def _finish(
    request: AuthorizationRequest,
    status: str,
    reason: str,
    *,
    account: SpotifyAccount | None = None,
    spotify_user_id: str = "",
) -> None:
    request.status = status
    request.status_reason = reason[:500]
    request.completed_at = timezone.now()
    request.spotify_user_id = spotify_user_id or request.spotify_user_id
    if account is not None:
        request.account = account
    request.save(update_fields=["status", "status_reason", "completed_at", "spotify_user_id", "account"])


def _refuse(
    request: AuthorizationRequest, *, reason: str, title: str, message: str, spotify_user_id: str = ""
) -> AuthorizationOutcome:
    _finish(request, Status.FAILED, reason, spotify_user_id=spotify_user_id)
    audit_record(
        actor=request.created_by,
        action=f"account.{request.kind}",
        target=request.account or request.app,
        outcome="refused",
        details={
            "request_id": str(request.pk),
            "reason": reason,
            **({"completed_by": f"Spotify user {spotify_user_id}"} if spotify_user_id else {}),
        },
    )
    return _page(request, 403, title, message)


def _denied(request: AuthorizationRequest, error: str) -> AuthorizationOutcome:
    if error == "access_denied":
        _finish(request, Status.DENIED, "the Spotify user pressed Cancel (access_denied)")
        return _page(
            request, 200, "Access not granted", "You did not agree on Spotify, so nothing was connected. You can close this page."
        )
    reason = f"Spotify answered error={error[:100]}"
    _finish(request, Status.FAILED, reason)
    return _page(request, 400, "Authorization failed", f"{reason}. Nothing was connected.")


def _exchange_and_store(request: AuthorizationRequest, code: str) -> AuthorizationOutcome:
    app = request.app
    try:
        grant = request_authorization_code_grant(
            client_id=app.client_id,
            client_secret=app.client_secret,
            code=code,
            redirect_uri=request.redirect_uri,
            code_verifier=request.code_verifier,
            limits=connector_limits("spotify.token"),
        )
    except SpotifyError as exc:
        _finish(request, Status.FAILED, f"code exchange failed: {exc}")
        status_code = 400 if isinstance(exc, SpotifyInvalidGrant) else 502
        return _page(
            request,
            status_code,
            "Authorization failed",
            f"Spotify did not accept the authorization ({exc}). Nothing was connected.",
        )
    try:
        me = _current_user(app, grant)
    except SpotifyForbidden:
        reason = (
            f"Spotify refused this user's calls for app {app.name} (a Development Mode app admits at most "
            f"{settings.DEV_MODE_USER_CAP} users, each on its allowlist in Spotify's Developer Dashboard)"
        )
        return _refuse(
            request,
            reason=reason,
            title="Spotify refused this user for the app",
            message=f"{reason}. Nothing was connected.",
        )
    except SpotifyError as exc:
        _finish(request, Status.FAILED, f"GET /v1/me failed: {exc}")
        return _page(request, 502, "Authorization failed", f"Spotify did not say who you are ({exc}). Nothing was connected.")
    user_id, display_name = str(me["id"]), str(me.get("display_name") or me["id"])

    target = request.account
    if target is not None and target.spotify_user_id != user_id:
        reason = f"completed by Spotify user {user_id}, not the account's user {target.spotify_user_id}"
        return _refuse(
            request,
            reason=reason,
            spotify_user_id=user_id,
            title="Wrong Spotify account",
            message=(
                f"This link re-authorizes the Spotify account {target.spotify_user_id}, but you logged in to Spotify as "
                f"{user_id}. Nothing was changed. Log out of Spotify, then open the link again as {target.spotify_user_id}."
            ),
        )
    if target is None:
        target = SpotifyAccount.objects.select_for_update().filter(spotify_user_id=user_id).first()
        if target is not None and target.app_id != app.pk:
            return _refuse(
                request,
                reason=f"Spotify user {user_id} is already connected through app {target.app.name}",
                spotify_user_id=user_id,
                title="Already connected",
                message=f"The Spotify account {user_id} is already connected through another app. Nothing was changed.",
            )
        if target is None and app_free_slots(app=app) <= 0:
            reason = f"app {app.name} already has {app.user_cap} authorized users (its cap)"
            return _refuse(
                request,
                reason=reason,
                spotify_user_id=user_id,
                title="No room on this app",
                message=f"{reason}. Nothing was connected.",
            )
    missing = _missing_scopes(grant.scope or request.scopes)
    created = target is None
    try:
        account = _store_authorization(target, app=app, user_id=user_id, display_name=display_name, grant=grant, missing=missing)
    except IntegrityError:
        return _refuse(
            request,
            reason=f"Spotify user {user_id} was connected by another link meanwhile",
            spotify_user_id=user_id,
            title="Already connected",
            message=f"The Spotify account {user_id} was connected meanwhile. Nothing was changed.",
        )
    verb = "connected" if created else "re-authorized"
    _finish(request, Status.COMPLETED, f"{verb} {account.display_name}", account=account, spotify_user_id=user_id)
    audit_record(
        actor=request.created_by,
        action="account.connect" if created else "account.reauthorize",
        target=account,
        details={
            "request_id": str(request.pk),
            "completed_by": f"Spotify user {user_id}",
            "app": app.name,
            "scopes": grant.scope,
            **({"missing_scopes": missing} if missing else {}),
        },
    )
    message = f"The Spotify account {display_name} ({user_id}) is {verb}. You can close this page."
    if missing:
        message += f" It lacks the scopes {', '.join(missing)}: it is kept but degraded until authorized with them."
    return AuthorizationOutcome(True, 200, f"Account {verb}", message, account=account, request=request)


def _current_user(app: SpotifyApp, grant: TokenGrant) -> dict[str, Any]:
    from spotify.client import SpotifyClient

    client = SpotifyClient(app_key=str(app.pk), token_provider=lambda force: grant.access_token, limits=connector_limits)
    return client.current_user()


def _store_authorization(
    account: SpotifyAccount | None,
    *,
    app: SpotifyApp,
    user_id: str,
    display_name: str,
    grant: TokenGrant,
    missing: list[str],
) -> SpotifyAccount:
    """New tokens, authorized now, failures cleared, health ok (degraded when scopes are missing)."""
    now = timezone.now()
    if account is None:
        account = SpotifyAccount(app=app, spotify_user_id=user_id)
    previous = account.health if account.pk else None
    account.display_name = display_name
    account.access_token = grant.access_token
    # Spotify always returns a refresh token for a code exchange; the old one (if any) is dead.
    account.refresh_token = grant.refresh_token or ""
    account.token_expires_at = now + timedelta(seconds=grant.expires_in)
    account.scopes = grant.scope
    account.authorized_at = now
    account.last_refreshed_at = now
    account.consecutive_failures = 0
    account.last_error = ""
    account.last_error_at = None
    health = Health.DEGRADED if missing else Health.OK
    reason = f"{MISSING_SCOPES} {', '.join(missing)} (authorize again with them)" if missing else ""
    if previous != health:
        account.health_changed_at = now
    account.health, account.health_reason = health, reason
    with transaction.atomic():  # a savepoint: a concurrent connect of the same user is a clean refusal
        account.save()
    if previous != health:
        account_health_record(account=account, previous=previous or "", reason=reason or "authorized")
    return account
