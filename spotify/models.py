from __future__ import annotations

from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models

# Spotify's own per-call ceilings: a bigger batch would only be split or refused.
CONNECTOR_BATCH_LIMITS = {"spotify.audio_features": 100, "spotify.album_tracks": 50, "spotify.playlists": 100}


# The columns operators see and edit, in order: the admin's list and form and the API's fields.
CONNECTOR_SETTING_COLUMNS = (
    "name",
    "enabled",
    "timeout_seconds",
    "batch_size",
    "max_attempts",
    "cooldown_seconds",
    "note",
    "updated_by",
    "updated_at",
)


class ConnectorSetting(models.Model):
    """Run-time knobs of one Spotify operation (names as the breakers: `spotify.albums`).

    Read through spotify.connectors.connector_setting (cached a few seconds, invalidated on
    save), so an operator's change reaches every worker without a restart.
    """

    name = models.CharField(max_length=100, unique=True, help_text="Breaker/telemetry name, e.g. spotify.albums.")
    enabled = models.BooleanField(default=True, help_text="Off: jobs skip this operation and leave their work queued.")
    timeout_seconds = models.FloatField(
        validators=[MinValueValidator(0.5), MaxValueValidator(120)], help_text="HTTP timeout of one attempt."
    )
    batch_size = models.PositiveIntegerField(
        validators=[MinValueValidator(1), MaxValueValidator(1000)],
        help_text="Items per job batch (capped by Spotify's own limits).",
    )
    max_attempts = models.PositiveSmallIntegerField(
        validators=[MinValueValidator(1), MaxValueValidator(10)], help_text="Attempts per call, retries of 429/5xx included."
    )
    cooldown_seconds = models.FloatField(
        validators=[MinValueValidator(1), MaxValueValidator(3600)], help_text="First circuit-breaker cooldown after it opens."
    )
    note = models.CharField(max_length=300, blank=True, default="", help_text="Why it was changed (incident link).")
    updated_by = models.CharField(max_length=150, blank=True, default="")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        # The table kept its name when the model moved here from `ingest`: no data migrated.
        db_table = "ingest_connectorsetting"
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        limit = CONNECTOR_BATCH_LIMITS.get(self.name)
        if limit is not None and self.batch_size is not None and self.batch_size > limit:
            raise ValidationError({"batch_size": f"{self.name} takes at most {limit} items per call."})


class RateLimitSetting(models.Model):
    """Token-bucket rate and burst at run time (spotify.ratelimit): a row with an empty
    `ident` overrides the settings default for every app (or account), a row with an id overrides
    one app or account. Read through a stamped per-process cache: a save reaches every worker
    within seconds, no restart (docs/runbooks/rate-limiter.md)."""

    class Kind(models.TextChoices):
        APP = "app", "Spotify app"
        ACCOUNT = "account", "Spotify account"

    kind = models.CharField(max_length=10, choices=Kind.choices)
    ident = models.CharField(
        max_length=64, blank=True, default="", help_text="The app's or account's id; empty: every app / account of this kind."
    )
    label = models.CharField(max_length=200, blank=True, default="", help_text="The app's name or account's display name.")
    rate_per_second = models.FloatField(
        validators=[MinValueValidator(0.01), MaxValueValidator(1000)], help_text="Tokens added per second."
    )
    burst = models.PositiveIntegerField(
        validators=[MinValueValidator(1), MaxValueValidator(10000)], help_text="Bucket capacity: calls allowed at once."
    )
    note = models.CharField(max_length=300, blank=True, default="", help_text="Why it was changed (incident link).")
    updated_by = models.CharField(max_length=150, blank=True, default="")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["kind", "ident"]
        constraints = [models.UniqueConstraint(fields=["kind", "ident"], name="ratelimitsetting_kind_ident_unique")]

    def __str__(self) -> str:
        who = self.label or self.ident or f"every {self.kind}"
        return f"{self.get_kind_display()} rate limit: {who}"
