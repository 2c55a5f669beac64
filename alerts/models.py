"""Alert rules, alerts with their timeline, notification channels and every delivery attempt.

The tables keep the names they had when these models lived in `metrics` (alerts/migrations/0001).
"""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone

from core.crypto import EncryptedTextField


class Severity(models.TextChoices):
    CRITICAL = "critical", "Critical"
    WARNING = "warning", "Warning"


class NotificationChannel(models.Model):
    """Where notifications go. The target (address or URL) and secret are encrypted at rest and
    never shown again after they are saved: a webhook URL is a credential (Slack's is)."""

    class Kind(models.TextChoices):
        EMAIL = "email", "Email"
        SLACK = "slack", "Slack incoming webhook"
        WEBHOOK = "webhook", "Signed webhook"

    name = models.CharField(max_length=100, unique=True)
    kind = models.CharField(max_length=10, choices=Kind.choices)
    target = EncryptedTextField(help_text="Email address, or the webhook URL.")
    secret = EncryptedTextField(blank=True, default="", help_text="Webhook only: the HMAC-SHA256 signing key.")
    enabled = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    last_success_at = models.DateTimeField(null=True, blank=True)
    failing_since = models.DateTimeField(
        null=True, blank=True, help_text="First failed attempt since the last success (empty: not failing)."
    )
    last_error = models.TextField(blank=True, default="")

    class Meta:
        db_table = "metrics_notificationchannel"
        ordering = ["name"]
        verbose_name = "notification channel"

    def __str__(self) -> str:
        return f"{self.name} ({self.get_kind_display()})"


class AlertRule(models.Model):
    """One condition the evaluator checks every minute; operators edit everything but `kind`'s meaning."""

    class Kind(models.TextChoices):
        JOB_FAILED = "job_failed", "Job failed N times in a row"
        JOB_LATE = "job_late", "Job late"
        CIRCUIT_OPEN = "circuit_open", "Circuit open longer than X minutes"
        DEAD_LETTERS = "dead_letters", "Dead letters pending above N"
        INGEST_STALLED = "ingest_stalled", "Ingest stalled"
        ACCOUNT_REAUTH_REQUIRED = "account_reauth_required", "Account needs re-authorization"
        ACCOUNT_REAUTH_DUE = "account_reauth_due", "Account re-authorization due within N days"
        ACCOUNT_QUARANTINED = "account_quarantined", "Account quarantined"
        CONNECTOR_DISABLED = "connector_disabled", "Connector disabled"
        NO_WORKERS = "no_workers", "No workers"
        BEAT_GONE = "beat_gone", "Beat gone"
        QUEUE_LENGTH = "queue_length", "Queue length above N"
        DATA_QUALITY = "data_quality", "Data-quality average below N"
        JOB_SLOW = "job_slow", "Job slower than k × its recent p95"
        JOB_FAST = "job_fast", "Job finished suspiciously fast"
        ENRICHMENT_SUCCESS_LOW = "enrichment_success_low", "Spotify call success rate below N %"
        DB_CONNECTIONS_HIGH = "db_connections_high", "Database connections above N % of max_connections"
        DISK_SPACE_HIGH = "disk_space_high", "Disk usage above N %"
        MEMORY_HIGH = "memory_high", "Memory usage above N %"
        API_ERROR_RATE_HIGH = "api_error_rate_high", "API 5xx rate above N %"

    name = models.CharField(max_length=100, unique=True, help_text="e.g. DLQDepthCritical, CircuitBreakerOpen.")
    kind = models.CharField(max_length=30, choices=Kind.choices)
    params = models.JSONField(default=dict, blank=True, help_text='Kind parameters, e.g. {"threshold": 1000}.')
    severity = models.CharField(max_length=10, choices=Severity.choices, default=Severity.WARNING)
    channels = models.ManyToManyField(NotificationChannel, blank=True, related_name="rules")
    pending_for = models.DurationField(
        default=timedelta(0),
        validators=[MinValueValidator(timedelta(0)), MaxValueValidator(timedelta(days=1))],
        help_text="How long the condition must hold before the alert opens (Prometheus' `for`), e.g. 00:05:00.",
    )
    reminder_interval = models.DurationField(
        default=timedelta(hours=1), help_text="Remind every interval while open and unacknowledged (e.g. 01:00:00)."
    )
    enabled = models.BooleanField(default=True)
    description = models.TextField(blank=True, default="")
    runbook = models.CharField(
        max_length=300,
        blank=True,
        default="",
        help_text="What the on-call does: a file under docs/runbooks/ (e.g. stalled-ingest.md) or a full URL.",
    )
    last_evaluated_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True, default="", help_text="Why the last evaluation could not read its condition.")

    class Meta:
        db_table = "metrics_alertrule"
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def runbook_url(self) -> str:
        """The runbook's address for people: a full URL as it is, a file under RUNBOOK_BASE_URL."""
        if not self.runbook or self.runbook.startswith(("https://", "http://")):
            return self.runbook
        return f"{settings.RUNBOOK_BASE_URL.rstrip('/')}/{self.runbook}"


class Alert(models.Model):
    """One firing of one rule for one subject (a job, a breaker, an account...)."""

    class State(models.TextChoices):
        OPEN = "open", "Open"
        ACKNOWLEDGED = "acknowledged", "Acknowledged"
        SNOOZED = "snoozed", "Snoozed"
        RESOLVED = "resolved", "Resolved"

    rule = models.ForeignKey(AlertRule, on_delete=models.CASCADE, related_name="alerts")
    subject = models.CharField(max_length=200, help_text="What fires: a job name, breaker, account id, queue...")
    subject_label = models.CharField(max_length=300, blank=True, default="")
    severity = models.CharField(max_length=10, choices=Severity.choices)
    state = models.CharField(max_length=15, choices=State.choices, default=State.OPEN)
    summary = models.TextField(blank=True, default="")
    details = models.JSONField(default=dict, blank=True)
    opened_at = models.DateTimeField(default=timezone.now)
    last_seen_at = models.DateTimeField(default=timezone.now)
    last_notified_at = models.DateTimeField(null=True, blank=True)
    acknowledged_at = models.DateTimeField(null=True, blank=True)
    acknowledged_by = models.CharField(max_length=150, blank=True, default="")
    snoozed_until = models.DateTimeField(null=True, blank=True)
    snooze_reason = models.CharField(max_length=300, blank=True, default="")
    snoozed_by = models.CharField(max_length=150, blank=True, default="")
    resolved_at = models.DateTimeField(null=True, blank=True)
    resolved_by = models.CharField(max_length=150, blank=True, default="", help_text="An operator, or `evaluator`.")

    class Meta:
        db_table = "metrics_alert"
        ordering = ["-opened_at", "-id"]
        constraints = [
            # The evaluator's idempotency: a second evaluation (or a second worker) cannot open a twin.
            models.UniqueConstraint(
                fields=["rule", "subject"], condition=~Q(state="resolved"), name="alert_one_unresolved_per_rule_subject"
            )
        ]
        indexes = [models.Index(fields=["state", "-opened_at"])]

    def __str__(self) -> str:
        return f"{self.rule.name}: {self.subject_label or self.subject}"

    @property
    def is_active(self) -> bool:
        return self.state != self.State.RESOLVED


class AlertEvent(models.Model):
    """The alert's timeline: opened, notified, acknowledged, snoozed, resolved..."""

    class Kind(models.TextChoices):
        OPENED = "opened", "Opened"
        NOTIFIED = "notified", "Notification queued"
        ACKNOWLEDGED = "acknowledged", "Acknowledged"
        SNOOZED = "snoozed", "Snoozed"
        UNSNOOZED = "unsnoozed", "Snooze ended"
        RESOLVED = "resolved", "Resolved"

    alert = models.ForeignKey(Alert, on_delete=models.CASCADE, related_name="events")
    at = models.DateTimeField(default=timezone.now)
    kind = models.CharField(max_length=15, choices=Kind.choices)
    actor = models.CharField(max_length=150, blank=True, default="")
    note = models.TextField(blank=True, default="")

    class Meta:
        db_table = "metrics_alertevent"
        ordering = ["at", "id"]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M:%S} {self.kind}"


class Notification(models.Model):
    """One message for one channel; retried with backoff until it is sent, never dropped."""

    class Kind(models.TextChoices):
        OPENED = "opened", "Opened"
        REMINDER = "reminder", "Reminder"
        RESOLVED = "resolved", "Resolved"
        TEST = "test", "Test"

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        SENT = "sent", "Sent"

    channel = models.ForeignKey(NotificationChannel, on_delete=models.CASCADE, related_name="notifications")
    alert = models.ForeignKey(Alert, on_delete=models.CASCADE, null=True, blank=True, related_name="notifications")
    kind = models.CharField(max_length=10, choices=Kind.choices)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    payload = models.JSONField(default=dict, help_text="The message as it was when queued.")
    created_at = models.DateTimeField(default=timezone.now)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "metrics_notification"
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["status", "next_attempt_at"])]

    def __str__(self) -> str:
        return f"{self.kind} → {self.channel.name} [{self.status}]"


class Delivery(models.Model):
    """One attempt to deliver a notification: the channel's delivery log."""

    notification = models.ForeignKey(Notification, on_delete=models.CASCADE, related_name="deliveries")
    channel = models.ForeignKey(NotificationChannel, on_delete=models.CASCADE, related_name="deliveries")
    at = models.DateTimeField(default=timezone.now)
    ok = models.BooleanField()
    status_code = models.PositiveIntegerField(null=True, blank=True)
    error = models.TextField(blank=True, default="")
    duration_ms = models.PositiveIntegerField(default=0)

    class Meta:
        db_table = "metrics_delivery"
        ordering = ["-at", "-id"]
        verbose_name_plural = "deliveries"
        indexes = [models.Index(fields=["channel", "-at"])]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M:%S} {'ok' if self.ok else 'failed'}"
