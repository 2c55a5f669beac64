from __future__ import annotations

from django.db import models


class MetricSnapshot(models.Model):
    """Hourly counts kept for the dashboard's trend charts."""

    taken_at = models.DateTimeField(unique=True)
    accounts_total = models.PositiveIntegerField(default=0)
    accounts_by_health = models.JSONField(default=dict)
    playlists_active = models.PositiveIntegerField(default=0)
    tracks_total = models.PositiveIntegerField(default=0)
    tracks_with_features = models.PositiveIntegerField(default=0)
    reshuffles = models.PositiveIntegerField(default=0, help_text="Reshuffles in the hour before taken_at.")
    retries = models.PositiveIntegerField(default=0, help_text="Spotify retries counted so far (cumulative).")
    dead_letters = models.PositiveIntegerField(default=0)
    job_failures = models.PositiveIntegerField(default=0, help_text="Failed job runs in the hour before taken_at.")
    extra = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["-taken_at"]

    def __str__(self) -> str:
        return f"Snapshot {self.taken_at:%Y-%m-%d %H:%M}"
