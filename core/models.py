from __future__ import annotations

from django.conf import settings
from django.db import models


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
