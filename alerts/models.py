"""Alert rules, alerts with their timeline, notification channels and every delivery attempt.

The tables keep the names they had when these models lived in `metrics` (alerts/migrations/0001).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from fnmatch import fnmatchcase

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import F, Q
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
        PAGERDUTY = "pagerduty", "PagerDuty (Events API v2)"

    name = models.CharField(max_length=100, unique=True)
    kind = models.CharField(max_length=10, choices=Kind.choices)
    target = EncryptedTextField(help_text="Email address, the webhook URL, or PagerDuty's integration (routing) key.")
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
        LOGIN_FAILURE_BURST = "login_failure_burst", "N failed sign-ins within M minutes"

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
    error_since = models.DateTimeField(
        null=True, blank=True, help_text="Since when the condition cannot be read (empty: it can)."
    )

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


class AlertQuerySet(models.QuerySet["Alert"]):
    def unresolved(self) -> AlertQuerySet:
        """Pending or opened, not yet resolved: what the evaluator tracks."""
        return self.exclude(state=Alert.State.RESOLVED)

    def opened(self) -> AlertQuerySet:
        """Opened and not resolved (open, acknowledged, snoozed): what the dashboard, health and
        /metrics count. A pending alert has told nobody and is not counted."""
        return self.exclude(state__in=[Alert.State.RESOLVED, Alert.State.PENDING])


class Alert(models.Model):
    """One firing of one rule for one subject (a job, a breaker, an account...).

    It starts `pending` (Prometheus' pending state) and opens once its condition has held for the
    rule's `pending_for`; a pending alert whose condition clears is deleted without a word."""

    class State(models.TextChoices):
        PENDING = "pending", "Pending"
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
    pending_since = models.DateTimeField(null=True, blank=True, help_text="When the condition was first seen.")
    opened_at = models.DateTimeField(default=timezone.now, help_text="When it opened (while pending: when it was first seen).")
    last_seen_at = models.DateTimeField(default=timezone.now)
    last_notified_at = models.DateTimeField(null=True, blank=True)
    acknowledged_at = models.DateTimeField(null=True, blank=True)
    acknowledged_by = models.CharField(max_length=150, blank=True, default="")
    snoozed_until = models.DateTimeField(null=True, blank=True)
    snooze_reason = models.CharField(max_length=300, blank=True, default="")
    snoozed_by = models.CharField(max_length=150, blank=True, default="")
    resolved_at = models.DateTimeField(null=True, blank=True)
    resolved_by = models.CharField(max_length=150, blank=True, default="", help_text="An operator, or `evaluator`.")
    flapping = models.BooleanField(
        default=False, help_text="Opened and resolved too often within an hour: held open until clear for an hour."
    )

    objects = AlertQuerySet.as_manager()

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
        """Opened and not resolved (a pending alert is not active yet)."""
        return self.state not in (self.State.RESOLVED, self.State.PENDING)

    @property
    def dedup_key(self) -> str:
        """The alert's stable key outside the console (PagerDuty's dedup_key, webhook receivers)."""
        return f"opsconsole-alert-{self.pk}"


class AlertEvent(models.Model):
    """The alert's timeline: opened, notified, acknowledged, snoozed, resolved..."""

    class Kind(models.TextChoices):
        PENDING = "pending", "Pending"
        OPENED = "opened", "Opened"
        NOTIFIED = "notified", "Notification queued"
        SILENCED = "silenced", "Silenced"
        FLAPPING = "flapping", "Flapping"
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
        # The incident timeline reads a window of every alert's events (metrics.timeline).
        indexes = [models.Index(fields=["at"], name="alertevent_at_idx")]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M:%S} {self.kind}"


class Notification(models.Model):
    """One message for one channel about the alerts of one rule that changed together (a PagerDuty
    channel gets one per alert); retried with backoff until it is sent, never dropped."""

    class Kind(models.TextChoices):
        OPENED = "opened", "Opened"
        REMINDER = "reminder", "Reminder"
        ACKNOWLEDGED = "acknowledged", "Acknowledged"
        RESOLVED = "resolved", "Resolved"
        UNREADABLE = "unreadable", "Rule cannot be evaluated"
        READABLE = "readable", "Rule can be evaluated again"
        TEST = "test", "Test"

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        SENT = "sent", "Sent"

    channel = models.ForeignKey(NotificationChannel, on_delete=models.CASCADE, related_name="notifications")
    rule = models.ForeignKey(AlertRule, on_delete=models.CASCADE, null=True, blank=True, related_name="notifications")
    alerts = models.ManyToManyField(Alert, blank=True, related_name="notifications")
    kind = models.CharField(max_length=15, choices=Kind.choices)
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


class AlertSilenceQuerySet(models.QuerySet["AlertSilence"]):
    def active(self, now: datetime) -> AlertSilenceQuerySet:
        return self.filter(expired_at__isnull=True, starts_at__lte=now, ends_at__gt=now)

    def scheduled(self, now: datetime) -> AlertSilenceQuerySet:
        return self.filter(expired_at__isnull=True, starts_at__gt=now)

    def expired(self, now: datetime) -> AlertSilenceQuerySet:
        return self.filter(Q(expired_at__isnull=False) | Q(ends_at__lte=now))

    def with_status(self, status: str, now: datetime) -> AlertSilenceQuerySet:
        return {"active": self.active, "scheduled": self.scheduled, "expired": self.expired}[status](now)


class AlertSilence(models.Model):
    """A time-boxed "tell nobody" for the alerts of a rule (or of every rule) whose subject matches a
    glob (Alertmanager's silences). Alerts still open and resolve; their notifications are held.
    A maintenance window is a silence that starts later. Never edited: expire it and make another."""

    class Status(models.TextChoices):
        SCHEDULED = "scheduled", "Scheduled"
        ACTIVE = "active", "Active"
        EXPIRED = "expired", "Expired"

    rule = models.ForeignKey(
        AlertRule, on_delete=models.CASCADE, null=True, blank=True, related_name="silences", help_text="Empty: every rule."
    )
    subject = models.CharField(
        max_length=200,
        default="*",
        help_text="Glob on the alert's subject or its label, case-insensitive: `*` (all), `acct-*`, a job name...",
    )
    starts_at = models.DateTimeField(default=timezone.now)
    ends_at = models.DateTimeField()
    reason = models.CharField(max_length=300)
    created_by = models.CharField(max_length=150)
    created_at = models.DateTimeField(default=timezone.now)
    expired_at = models.DateTimeField(null=True, blank=True, help_text="Ended early by an operator.")
    expired_by = models.CharField(max_length=150, blank=True, default="")

    objects = AlertSilenceQuerySet.as_manager()

    class Meta:
        ordering = ["-starts_at", "-id"]
        indexes = [models.Index(fields=["ends_at", "starts_at"])]
        constraints = [models.CheckConstraint(condition=Q(ends_at__gt=F("starts_at")), name="alert_silence_ends_after_start")]

    def __str__(self) -> str:
        return f"#{self.pk} {self.rule.name if self.rule_id and self.rule else 'every rule'}: {self.subject}"

    def clean(self) -> None:
        errors: dict[str, str] = {}
        if self.ends_at is not None:
            if self.ends_at <= timezone.now():
                errors["ends_at"] = "The end must be in the future."
            elif self.starts_at is not None and self.ends_at <= self.starts_at:
                errors["ends_at"] = "The end must come after the start."
        if not (self.subject or "").strip():
            errors["subject"] = "Give a pattern (`*` for every subject)."
        if errors:
            raise ValidationError(errors)

    def status_at(self, now: datetime) -> str:
        if self.expired_at is not None or self.ends_at <= now:
            return self.Status.EXPIRED
        if self.starts_at > now:
            return self.Status.SCHEDULED
        return self.Status.ACTIVE

    @property
    def ended_at(self) -> datetime:
        return self.expired_at or self.ends_at

    def matches(self, alert: Alert) -> bool:
        if self.rule_id is not None and self.rule_id != alert.rule_id:
            return False
        return self.matches_subject(alert.subject) or self.matches_subject(alert.subject_label)

    def matches_subject(self, subject: str) -> bool:
        return bool(subject) and fnmatchcase(subject.lower(), self.subject.lower())
