from __future__ import annotations

import hashlib
import secrets
from datetime import datetime

from django.conf import settings
from django.db import models
from django.utils import timezone


class UserPreference(models.Model):
    """A staff user's own display settings in the admin (docs/runbooks/operations-home.md)."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="console_preference")
    # An IANA zone name; the admin shows times in it, the API always answers in UTC.
    time_zone = models.CharField(max_length=64, default="UTC")

    def __str__(self) -> str:
        return f"{self.user} ({self.time_zone})"


class ExternalIdentity(models.Model):
    """A person at the single sign-on provider: issuer + `sub`, the pair OpenID Connect promises
    never to reassign (an e-mail address can change hands). Roles come from the provider's groups
    claim at every sign-in (audit.sso)."""

    issuer = models.CharField(max_length=255)
    sub = models.CharField(max_length=255)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="external_identities")
    created_at = models.DateTimeField(auto_now_add=True)
    last_login_at = models.DateTimeField(null=True, blank=True)
    # The groups claim of the last sign-in or re-check, as the provider sent it.
    last_groups = models.JSONField(default=list, blank=True)

    class Meta:
        verbose_name = "single sign-on identity"
        verbose_name_plural = "single sign-on identities"
        constraints = [models.UniqueConstraint(fields=["issuer", "sub"], name="external_identity_issuer_sub_unique")]

    def __str__(self) -> str:
        return f"{self.sub} at {self.issuer}"


class ApiToken(models.Model):
    """An automation key for the API (docs/runbooks/api-tokens-access.md). Only a SHA-256 digest
    of the key is stored: the key is shown once, by `create_api_token`, and nowhere after. Keys
    carry 256 random bits, so a plain digest is as strong as a slow hash and can be looked up
    by index on every request. Revoked and expired tokens stay as rows, for the record and so
    their use answers 401 with the reason."""

    class Scope(models.TextChoices):
        READ = "read", "read"
        OPERATE = "operate", "operate"

    KEY_PREFIX = "opsc_"
    # What the admin and the audit trail show of a key: its start, enough to recognise it.
    VISIBLE_CHARS = 12

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(max_length=100, blank=True, default="")
    scope = models.CharField(max_length=10, choices=Scope.choices, default=Scope.READ)
    prefix = models.CharField(max_length=VISIBLE_CHARS, help_text="The start of the key, to recognise it.")
    digest = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField(null=True, blank=True, help_text="Empty: never expires.")
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = "API token"
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["user", "name"])]

    def __str__(self) -> str:
        label = f" {self.name!r}" if self.name else ""
        return f"API token{label} ({self.prefix}…) of {self.user.get_username()}"

    @classmethod
    def new_key(cls) -> str:
        return cls.KEY_PREFIX + secrets.token_urlsafe(32)

    @staticmethod
    def digest_of(key: str) -> str:
        return hashlib.sha256(key.encode()).hexdigest()

    def is_expired(self, now: datetime | None = None) -> bool:
        return self.expires_at is not None and self.expires_at <= (now or timezone.now())

    @property
    def status(self) -> str:
        if self.revoked_at is not None:
            return "revoked"
        return "expired" if self.is_expired() else "active"


class ProcessStart(models.Model):
    """One process of the stack booting (web, worker, beat, evaluator): the running version and
    when each process started, so the incident timeline shows deploys and restarts. Written once
    per boot by core.deploys.process_start_record."""

    class Kind(models.TextChoices):
        WEB = "web", "Web"
        WORKER = "worker", "Worker"
        BEAT = "beat", "Beat"
        EVALUATOR = "evaluator", "Alert evaluator"

    kind = models.CharField(max_length=20, choices=Kind.choices)
    version = models.CharField(max_length=100)
    previous_version = models.CharField(
        max_length=100, blank=True, default="", help_text="The version the last start of this kind ran (empty: the first)."
    )
    hostname = models.CharField(max_length=255)
    name = models.CharField(max_length=255, blank=True, default="", help_text="Celery's node name, e.g. worker@host.")
    pid = models.PositiveIntegerField()
    started_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-started_at", "-id"]
        verbose_name = "process start"
        indexes = [models.Index(fields=["-started_at"]), models.Index(fields=["kind", "-started_at"])]

    def __str__(self) -> str:
        return f"{self.kind} {self.version} on {self.hostname} ({self.started_at:%Y-%m-%d %H:%M:%S})"

    @property
    def is_deploy(self) -> bool:
        """A start that runs another version than the start before it (the first start is one too)."""
        return self.version != self.previous_version
