from __future__ import annotations

from django.db import models


class AuditEvent(models.Model):
    """Who did what to which thing, through which door, and how it ended. Append-only."""

    class Door(models.TextChoices):
        ADMIN = "admin", "Admin"
        API = "api", "API"
        CLI = "cli", "Command line"
        SYSTEM = "system", "System"

    class Outcome(models.TextChoices):
        OK = "ok", "OK"
        FAILED = "failed", "Failed"
        REFUSED = "refused", "Refused"

    at = models.DateTimeField(auto_now_add=True, db_index=True)
    actor = models.CharField(max_length=150, help_text="`admin:olive`, `api:deploy-bot`, `cli:root`.")
    door = models.CharField(max_length=10, choices=Door.choices)
    action = models.CharField(max_length=100, help_text="What was done, e.g. `account.deactivate`, `periodic_task.disable`.")
    target_type = models.CharField(max_length=100, blank=True, default="")
    target_id = models.CharField(max_length=255, blank=True, default="")
    target_repr = models.CharField(max_length=300, blank=True, default="", help_text="The target as a person reads it.")
    outcome = models.CharField(max_length=10, choices=Outcome.choices, default=Outcome.OK)
    details = models.JSONField(default=dict, blank=True)
    request_id = models.CharField(max_length=64, blank=True, default="", db_index=True)

    class Meta:
        ordering = ["-at", "-id"]
        indexes = [
            models.Index(fields=["actor", "-at"]),
            models.Index(fields=["action", "-at"]),
            models.Index(fields=["target_type", "target_id"]),
        ]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M:%S} {self.actor} {self.action} {self.target_repr or self.target_id}"
