from __future__ import annotations

import uuid
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models

# Spotify's audio-features object: what a policy may range over.
FEATURE_NAMES = frozenset(
    {
        "acousticness",
        "danceability",
        "duration_ms",
        "energy",
        "instrumentalness",
        "key",
        "liveness",
        "loudness",
        "mode",
        "speechiness",
        "tempo",
        "time_signature",
        "valence",
    }
)
SOURCE_FILTER_KEYS = {"labels": str, "album_ids": str, "source_ids": int}
PLAYLIST_SIZE_MAX = 500


class PlaylistPolicy(models.Model):
    """How a playlist is sampled and named."""

    class ShortPool(models.TextChoices):
        STRICT = "strict", "Strict: leave the playlist short and record why"
        RELAX = "relax", "Relax: let a rule give way and record which, for which tracks"

    name = models.CharField(max_length=100, unique=True)
    size = models.PositiveIntegerField(default=settings.PLAYLIST_SIZE)
    cooldown_days = models.PositiveIntegerField(default=settings.PLAYLIST_COOLDOWN_DAYS)
    artist_cap = models.PositiveIntegerField(default=settings.PLAYLIST_ARTIST_CAP)
    # {"energy": {"min": 0.3, "max": 0.9}, "tempo": {"min": 90}}
    feature_ranges = models.JSONField(default=dict, blank=True)
    tracks_without_features_pass = models.BooleanField(
        default=True, help_text="Spotify refuses audio features to newer apps: let featureless tracks through."
    )
    # {"labels": [...], "album_ids": [...]} — empty means the whole catalog.
    source_filter = models.JSONField(default=dict, blank=True)
    short_pool = models.CharField(max_length=10, choices=ShortPool.choices, default=ShortPool.STRICT)
    reshuffle_interval_days = models.PositiveIntegerField(default=settings.PLAYLIST_RESHUFFLE_DAYS)
    name_template = models.CharField(max_length=300, default="{{ policy.name }} #{{ index }}")
    description_template = models.TextField(blank=True, default="Fresh picks, {{ date }}.")
    is_default = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name_plural = "playlist policies"

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        from playlists.templating import TemplateInvalid, template_check

        errors: dict[str, list[str]] = {}
        if not 1 <= self.size <= PLAYLIST_SIZE_MAX:
            errors.setdefault("size", []).append(f"Size must be between 1 and {PLAYLIST_SIZE_MAX}.")
        if self.artist_cap < 1:
            errors.setdefault("artist_cap", []).append("Artist cap must be at least 1.")
        if self.reshuffle_interval_days < 1:
            errors.setdefault("reshuffle_interval_days", []).append("Reshuffle interval must be at least 1 day.")
        if problems := feature_ranges_problems(self.feature_ranges):
            errors["feature_ranges"] = problems
        if problems := source_filter_problems(self.source_filter):
            errors["source_filter"] = problems
        for field in ("name_template", "description_template"):
            try:
                template_check(getattr(self, field))
            except TemplateInvalid as exc:
                errors.setdefault(field, []).append(str(exc))
        if errors:
            raise ValidationError(errors)


def feature_ranges_problems(value: Any) -> list[str]:
    if not isinstance(value, dict):
        return ['Feature ranges must be an object like {"energy": {"min": 0.3, "max": 0.9}}.']
    problems = []
    for name, bounds in value.items():
        if name not in FEATURE_NAMES:
            problems.append(f"Unknown audio feature {name!r}; known: {', '.join(sorted(FEATURE_NAMES))}.")
            continue
        if not isinstance(bounds, dict) or not bounds or set(bounds) - {"min", "max"}:
            problems.append(f'{name}: give "min" and/or "max", e.g. {{"min": 0.3, "max": 0.9}}.')
            continue
        numbers = {k: v for k, v in bounds.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}
        if len(numbers) != len(bounds):
            problems.append(f"{name}: min and max must be numbers.")
        elif "min" in numbers and "max" in numbers and numbers["min"] > numbers["max"]:
            problems.append(f"{name}: min ({numbers['min']}) is greater than max ({numbers['max']}).")
    return problems


def source_filter_problems(value: Any) -> list[str]:
    if not isinstance(value, dict):
        return ['Source filter must be an object like {"labels": ["Label"], "album_ids": [...], "source_ids": [1]}.']
    problems = []
    for name, items in value.items():
        item_type = SOURCE_FILTER_KEYS.get(name)
        if item_type is None:
            problems.append(f"Unknown source filter {name!r}; known: {', '.join(SOURCE_FILTER_KEYS)}.")
        elif not isinstance(items, list) or not all(isinstance(item, item_type) and not isinstance(item, bool) for item in items):
            problems.append(f"{name} must be a list of {item_type.__name__} values.")
    return problems


class Playlist(models.Model):
    class Status(models.TextChoices):
        ACTIVE = "active", "Active"
        RETIRED = "retired", "Retired"

    class SyncState(models.TextChoices):
        PENDING = "pending", "Pending"
        SYNCING = "syncing", "Syncing"
        SYNCED = "synced", "Synced"
        FAILED = "failed", "Failed"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    account = models.ForeignKey("accounts.SpotifyAccount", on_delete=models.PROTECT, related_name="playlists")
    policy = models.ForeignKey(PlaylistPolicy, on_delete=models.PROTECT, related_name="playlists")
    index = models.PositiveIntegerField(default=1, help_text="Number of this playlist on its account.")
    spotify_playlist_id = models.CharField(max_length=64, blank=True, default="", db_index=True)
    name = models.CharField(max_length=300, blank=True, default="")
    description = models.TextField(blank=True, default="")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.ACTIVE, db_index=True)
    sync_state = models.CharField(max_length=10, choices=SyncState.choices, default=SyncState.PENDING)
    sync_error = models.TextField(blank=True, default="")
    next_reshuffle_at = models.DateTimeField(null=True, blank=True, db_index=True)
    last_synced_at = models.DateTimeField(null=True, blank=True)
    # Set (and committed) before POST /me/playlists: a retry that finds it set but no id looks
    # the playlist up by its description marker instead of creating a second one.
    spotify_create_started_at = models.DateTimeField(null=True, blank=True)
    current_snapshot = models.ForeignKey(
        "playlists.PlaylistSnapshot", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # What Spotify answered to our last write, and with `name`/`description` (what we sent),
    # what verify_playlists compares Spotify's side with.
    spotify_snapshot_id = models.CharField(max_length=100, blank=True, default="")
    last_verified_at = models.DateTimeField(null=True, blank=True)
    frozen = models.BooleanField(
        default=False, db_index=True, help_text="Curated by hand: no reshuffle, no drift repair; keeps its slot."
    )
    frozen_by = models.CharField(max_length=150, blank=True, default="")
    # Parked: Spotify asked for a wait longer than a task may sleep in a worker (Retry-After of
    # hours). `parked_work` ("sync", "reshuffle") runs again from resume_parked_playlists once due.
    not_before = models.DateTimeField(null=True, blank=True, db_index=True)
    parked_work = models.CharField(max_length=20, blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    retired_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["account_id", "index"]
        indexes = [
            models.Index(fields=["status", "next_reshuffle_at"]),
            # The few playlists not in sync, in the lists' order: an operator's `?sync_state=failed`
            # counts and pages them without reading the fleet (BENCHMARKS.md, "The fleet ×10").
            models.Index(
                fields=["sync_state", "account", "index", "id"],
                condition=~models.Q(sync_state="synced"),
                name="playlist_unsynced_idx",
            ),
        ]

    def __str__(self) -> str:
        return self.name or f"Playlist {self.index} of {self.account_id}"


class PlaylistSnapshot(models.Model):
    """One sampled selection, reproducible from its seed."""

    playlist = models.ForeignKey(Playlist, on_delete=models.CASCADE, related_name="snapshots")
    seed = models.BigIntegerField()
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    synced_at = models.DateTimeField(null=True, blank=True)
    track_count = models.PositiveIntegerField(default=0)
    # Why it is short or which rule gave way: {"short_by": 3, "relaxed": {"cooldown": [...]}}
    notes = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["playlist", "-created_at"], name="snapshot_playlist_created_idx")]

    def __str__(self) -> str:
        return f"Snapshot {self.pk} of {self.playlist_id}"


class SnapshotTrack(models.Model):
    snapshot = models.ForeignKey(PlaylistSnapshot, on_delete=models.CASCADE, related_name="items")
    track = models.ForeignKey("ingest.Track", on_delete=models.PROTECT, related_name="+")
    position = models.PositiveIntegerField()

    class Meta:
        ordering = ["snapshot_id", "position"]
        constraints = [models.UniqueConstraint(fields=["snapshot", "position"], name="snapshottrack_unique_position")]

    def __str__(self) -> str:
        return f"#{self.position} of snapshot {self.snapshot_id}"


class PlaylistHistory(models.Model):
    class Action(models.TextChoices):
        CREATE = "create", "Created"
        RENAME = "rename", "Renamed"
        SNAPSHOT = "snapshot", "Snapshot built"
        SYNC = "sync", "Synced"
        RESHUFFLE = "reshuffle", "Reshuffled"
        RETIRE = "retire", "Retired"
        MOVE = "move", "Moved"
        SKIP = "skip", "Skipped"
        FAIL = "fail", "Failed"
        DRIFT_REPAIRED = "drift_repaired", "Drift repaired"
        FREEZE = "freeze", "Frozen"
        UNFREEZE = "unfreeze", "Unfrozen"
        PARK = "park", "Parked"

    playlist = models.ForeignKey(Playlist, on_delete=models.CASCADE, related_name="history")
    action = models.CharField(max_length=20, choices=Action.choices)
    actor = models.CharField(max_length=150, help_text="schedule, admin:<user>, api:<user>")
    details = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name_plural = "playlist history"

    def __str__(self) -> str:
        return f"{self.get_action_display()} by {self.actor}"
