from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from django.conf import settings
from django.db import models
from django.utils import timezone

from core.crypto import EncryptedTextField

# Spotify refresh tokens stop working six months after the user authorized the app.
REFRESH_TOKEN_LIFETIME = timedelta(days=182)


def reauth_warning_cutoff(*, now: datetime | None = None, days: float | None = None) -> datetime:
    """The rule of "re-authorization due soon", once: an account authorized at or before this
    moment loses its refresh token within `days` (REAUTH_WARNING_DAYS) of `now`. The model's
    property, the API list, the admin filter, the alert and the Prometheus gauge all compare
    `authorized_at` with it."""
    days = settings.REAUTH_WARNING_DAYS if days is None else days
    return (now or timezone.now()) - REFRESH_TOKEN_LIFETIME + timedelta(days=days)


def reauth_due_soon_q(*, now: datetime | None = None, days: float | None = None) -> models.Q:
    """The accounts whose re-authorization is due soon (`reauth_warning_cutoff`), as a filter."""
    return models.Q(authorized_at__lte=reauth_warning_cutoff(now=now, days=days))


class SpotifyApp(models.Model):
    """A registered Spotify client. Rate limits and the user cap are per app."""

    class Mode(models.TextChoices):
        DEVELOPMENT = "development", "Development mode"
        EXTENDED = "extended", "Extended quota"

    name = models.CharField(max_length=100, unique=True)
    client_id = models.CharField(max_length=100, unique=True)
    client_secret = EncryptedTextField()
    mode = models.CharField(max_length=20, choices=Mode.choices, default=Mode.DEVELOPMENT)
    user_cap = models.PositiveIntegerField(
        default=5, help_text="Authorized-user cap: 5 for Development Mode apps since 2026; grandfathered apps may have more."
    )
    # Learned from 403s: {"several_albums": false, "audio_features": false, ...}
    capabilities = models.JSONField(default=dict, blank=True)
    # When each capability was last learned (ISO times): a refusal is asked again after
    # SPOTIFY_CAPABILITY_RECHECK_HOURS (the app may have been upgraded).
    capabilities_checked_at = models.JSONField(default=dict, blank=True)
    health = models.CharField(max_length=20, choices=[("ok", "OK"), ("degraded", "Degraded")], default="ok", db_index=True)
    health_reason = models.CharField(
        max_length=500, blank=True, default="", help_text="Why it is degraded, e.g. 403 on every call."
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = "Spotify app"

    def __str__(self) -> str:
        return self.name

    def can(self, capability: str) -> bool:
        """False only while a refusal is recent: after SPOTIFY_CAPABILITY_RECHECK_HOURS the
        capability is tried again."""
        return self.capability_now(capability) is not False

    def capability_now(self, capability: str) -> bool | None:
        value = self.capabilities.get(capability)
        if value is False:
            checked = self.capabilities_checked_at.get(capability)
            recheck = timedelta(hours=settings.SPOTIFY_CAPABILITY_RECHECK_HOURS)
            if checked is None or datetime.fromisoformat(checked) + recheck <= timezone.now():
                return None
        return value

    def capabilities_now(self) -> dict[str, bool]:
        """What the client may skip now: learned capabilities, refusals past their recheck left out."""
        return {name: value for name in self.capabilities if (value := self.capability_now(name)) is not None}


class SpotifyAccount(models.Model):
    class Health(models.TextChoices):
        OK = "ok", "OK"
        DEGRADED = "degraded", "Degraded"
        QUARANTINED = "quarantined", "Quarantined"
        REAUTH_REQUIRED = "reauth_required", "Re-authorization required"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    app = models.ForeignKey(SpotifyApp, on_delete=models.PROTECT, related_name="accounts")
    display_name = models.CharField(max_length=200)
    spotify_user_id = models.CharField(max_length=100, unique=True)
    access_token = EncryptedTextField(blank=True, default="")
    refresh_token = EncryptedTextField(blank=True, default="")
    token_expires_at = models.DateTimeField(null=True, blank=True, db_index=True)
    authorized_at = models.DateTimeField(default=timezone.now, help_text="Refresh tokens die 6 months after this.")
    scopes = models.CharField(max_length=500, blank=True, default="")
    is_active = models.BooleanField(default=True, db_index=True)
    health = models.CharField(max_length=20, choices=Health.choices, default=Health.OK, db_index=True)
    health_reason = models.CharField(max_length=500, blank=True, default="")
    health_changed_at = models.DateTimeField(null=True, blank=True)
    consecutive_failures = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True, default="")
    last_error_at = models.DateTimeField(null=True, blank=True)
    last_refreshed_at = models.DateTimeField(null=True, blank=True)
    playlist_capacity = models.PositiveIntegerField(default=settings.PLAYLISTS_PER_ACCOUNT_MAX)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "Spotify account"
        ordering = ["display_name"]
        indexes = [
            models.Index(fields=["is_active", "health"]),
            # The API list's and the changelist's order: a page reads 50 index entries instead of
            # sorting every account (bench: /api/v1/accounts/list).
            models.Index(fields=["display_name", "id"], name="account_display_name_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.display_name} ({self.spotify_user_id})"

    @property
    def reauth_due_at(self) -> datetime:
        return self.authorized_at + REFRESH_TOKEN_LIFETIME

    @property
    def reauth_due_soon(self) -> bool:
        return self.authorized_at <= reauth_warning_cutoff()

    @property
    def token_is_stale(self) -> bool:
        return self.token_expires_at is None or self.token_expires_at <= timezone.now() + timedelta(seconds=60)

    @property
    def work_blocked_reason(self) -> str:
        """The one rule for "may work touch this account?": why it must wait for an operator,
        or "" when it may go on (active and healthy or degraded; see accounts_workable_q)."""
        if not self.is_active:
            return "account inactive"
        if self.health == self.Health.QUARANTINED:
            return f"account quarantined: {self.health_reason}".rstrip(": ")
        if self.health == self.Health.REAUTH_REQUIRED:
            return "account needs re-authorization"
        return ""


class AuthorizationRequest(models.Model):
    """One OAuth Authorization Code + PKCE attempt: a link an operator sends to an account's owner.

    The `state` in the link is the credential of the callback: single-use, expiring, and kept
    here only as its SHA-256. The PKCE `code_verifier` is encrypted and never shown.
    """

    class Kind(models.TextChoices):
        CONNECT = "connect", "Connect"
        REAUTHORIZE = "reauthorize", "Re-authorize"

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        COMPLETED = "completed", "Completed"
        DENIED = "denied", "Denied"
        EXPIRED = "expired", "Expired"
        FAILED = "failed", "Failed"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    app = models.ForeignKey(SpotifyApp, on_delete=models.PROTECT, related_name="authorization_requests")
    kind = models.CharField(max_length=20, choices=Kind.choices, default=Kind.CONNECT)
    account = models.ForeignKey(
        SpotifyAccount,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="authorization_requests",
        help_text="The account re-authorized, or the one the connect produced.",
    )
    state_hash = models.CharField(max_length=64, unique=True, editable=False)
    code_verifier = EncryptedTextField(editable=False)
    scopes = models.CharField(max_length=500)
    redirect_uri = models.CharField(max_length=500)
    created_by = models.CharField(max_length=150, help_text="`admin:olive`, `api:deploy-bot`, `cli:root`.")
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField(db_index=True)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.PENDING, db_index=True)
    status_reason = models.CharField(max_length=500, blank=True, default="")
    completed_at = models.DateTimeField(null=True, blank=True)
    spotify_user_id = models.CharField(max_length=100, blank=True, default="", help_text="Who completed it on Spotify.")

    class Meta:
        verbose_name = "authorization request"
        ordering = ["-created_at"]

    def __str__(self) -> str:
        target = f" of {self.account}" if self.kind == self.Kind.REAUTHORIZE and self.account_id else ""
        return f"{self.get_kind_display()}{target} on {self.app} ({self.created_at:%Y-%m-%d %H:%M})"

    @property
    def current_status(self) -> str:
        """A pending request past its expiry reads as expired before anything marks it so."""
        if self.status == self.Status.PENDING and self.expires_at <= timezone.now():
            return self.Status.EXPIRED
        return self.status


class AccountHealthChange(models.Model):
    """One move of an account's health (`ok` → `degraded` ...): its history, for the incident
    timeline and the account's page. Written by accounts.services.account_health_record only."""

    account = models.ForeignKey(SpotifyAccount, on_delete=models.CASCADE, related_name="health_changes")
    at = models.DateTimeField(default=timezone.now)
    from_health = models.CharField(
        max_length=20, choices=SpotifyAccount.Health.choices, blank=True, default="", help_text="Empty: a new account."
    )
    to_health = models.CharField(max_length=20, choices=SpotifyAccount.Health.choices)
    reason = models.CharField(max_length=500, blank=True, default="")
    actor = models.CharField(max_length=150, blank=True, default="", help_text="The operator; empty when evidence moved it.")

    class Meta:
        ordering = ["-at", "-id"]
        verbose_name = "account health change"
        indexes = [models.Index(fields=["-at"]), models.Index(fields=["account", "-at"])]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M:%S} {self.from_health or 'new'} → {self.to_health}"
