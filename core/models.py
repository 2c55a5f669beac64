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
