from __future__ import annotations

from django.contrib.postgres.fields import ArrayField
from django.db import models


class AlbumSource(models.Model):
    """A queued album URL. Invalid input is kept and marked, never dropped."""

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        PROCESSING = "processing", "Processing"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"
        INVALID = "invalid", "Invalid"

    raw_input = models.TextField()
    spotify_album_id = models.CharField(max_length=64, blank=True, default="")
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.QUEUED)
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True, default="")
    submitted_by = models.CharField(max_length=150, blank=True, default="")
    album = models.ForeignKey("ingest.Album", null=True, blank=True, on_delete=models.SET_NULL, related_name="sources")
    not_before = models.DateTimeField(null=True, blank=True, help_text="Parked until then (rate limit or open circuit).")
    claimed_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["status", "created_at"]),
            # "Last finished" for the stalled-ingest check, read by every health probe.
            models.Index(fields=["-finished_at"], name="albumsource_finished_idx"),
        ]
        constraints = [
            # One live queue entry per album: duplicates are answered, not queued twice.
            models.UniqueConstraint(
                fields=["spotify_album_id"],
                condition=~models.Q(spotify_album_id="") & ~models.Q(status="invalid"),
                name="albumsource_unique_album",
            )
        ]

    def __str__(self) -> str:
        return self.spotify_album_id or self.raw_input[:60]


class Artist(models.Model):
    spotify_id = models.CharField(max_length=64, unique=True)
    name = models.CharField(max_length=300, db_index=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return self.name


class Album(models.Model):
    spotify_id = models.CharField(max_length=64, unique=True)
    name = models.CharField(max_length=300, db_index=True)
    label = models.CharField(max_length=300, blank=True, default="")
    release_date = models.CharField(max_length=10, blank=True, default="")
    total_tracks = models.PositiveIntegerField(default=0)
    artist = models.ForeignKey(Artist, null=True, blank=True, on_delete=models.SET_NULL, related_name="albums")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return self.name


class QualityTier(models.TextChoices):
    GOOD = "good", "Good"
    FAIR = "fair", "Fair"
    POOR = "poor", "Poor"


class Track(models.Model):
    # Unique and indexed through Meta, not `unique=`/`db_index=`: on PostgreSQL those add a second
    # `varchar_pattern_ops` index for LIKE 'prefix%', which no lookup here uses, and every new
    # track paid for both (bench: ingest.cost_per_track).
    spotify_id = models.CharField(max_length=64)
    name = models.CharField(max_length=300)
    album = models.ForeignKey(Album, on_delete=models.CASCADE, related_name="tracks")
    artist = models.ForeignKey(Artist, on_delete=models.PROTECT, related_name="tracks", help_text="Primary artist.")
    isrc = models.CharField(max_length=20, blank=True, default="")
    duration_ms = models.PositiveIntegerField(default=0)
    disc_number = models.PositiveSmallIntegerField(default=1)
    track_number = models.PositiveSmallIntegerField(default=1)
    explicit = models.BooleanField(default=False)
    audio_features = models.JSONField(null=True, blank=True)
    features_fetched_at = models.DateTimeField(null=True, blank=True)
    # Spotify answered null for this id: do not ask again before this time.
    features_unavailable_until = models.DateTimeField(null=True, blank=True)
    # Written in bulk by ingest.quality after ingest and feature runs; empty tier = not scored yet.
    quality_score = models.PositiveSmallIntegerField(null=True, blank=True)
    quality_tier = models.CharField(max_length=10, choices=QualityTier.choices, blank=True, default="")
    quality_issues = ArrayField(models.CharField(max_length=40), default=list, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["spotify_id"], name="ingest_track_spotify_id_key")]
        indexes = [
            models.Index(fields=["isrc"], name="ingest_track_isrc_96705df9"),
            models.Index(fields=["quality_tier"], name="track_quality_tier_idx"),
            models.Index(fields=["features_fetched_at"], name="track_features_idx"),
            # (Migration 0002 also adds a trigram index on UPPER(name) for admin/API name search.)
            # The features job walks tracks still without features in pk order.
            models.Index(fields=["id"], condition=models.Q(features_fetched_at__isnull=True), name="track_needs_features_idx"),
        ]

    def __str__(self) -> str:
        return self.name


class DeadLetter(models.Model):
    """An operation that exhausted its retries or met an open circuit; replayable."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        REPLAYED = "replayed", "Replayed"
        PURGED = "purged", "Purged"

    source_service = models.CharField(max_length=100, db_index=True, help_text="e.g. spotify.albums")
    operation = models.CharField(max_length=100)
    error_type = models.CharField(max_length=100, db_index=True)
    error_message = models.TextField(blank=True, default="")
    payload = models.JSONField(default=dict)
    # Same operation + payload dead-letters into one row: its count grows, no duplicates.
    fingerprint = models.CharField(max_length=64)
    correlation_id = models.CharField(max_length=64, blank=True, default="")
    retry_count = models.PositiveIntegerField(default=0)
    occurrences = models.PositiveIntegerField(default=1)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.PENDING, db_index=True)
    first_seen = models.DateTimeField()
    last_seen = models.DateTimeField(db_index=True)
    replayed_at = models.DateTimeField(null=True, blank=True)
    replayed_by = models.CharField(max_length=150, blank=True, default="")

    class Meta:
        ordering = ["-last_seen"]
        constraints = [
            models.UniqueConstraint(
                fields=["fingerprint"], condition=models.Q(status="pending"), name="deadletter_unique_pending"
            )
        ]
        # The oldest pending one (the dashboard's dead-letter panel) without reading the replayed and
        # purged history: 23 ms to 0.03 ms on the x10 bench fleet (BENCHMARKS.md).
        indexes = [
            models.Index(fields=["first_seen"], condition=models.Q(status="pending"), name="deadletter_pending_age_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.source_service}.{self.operation}: {self.error_type}"
