from __future__ import annotations

from django.contrib.postgres.indexes import GinIndex
from django.db import models

from core.crypto import EncryptedTextField


class JobRun(models.Model):
    """One run of one Celery task: the job history staff read during an incident."""

    class Trigger(models.TextChoices):
        SCHEDULE = "schedule", "Schedule"
        ADMIN = "admin", "Admin"
        API = "api", "API"
        CHAIN = "chain", "Queued by another job"
        MANUAL = "manual", "Command line"

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        SUCCESS = "success", "Success"
        FAILED = "failed", "Failed"
        RETRYING = "retrying", "Retrying"
        REVOKED = "revoked", "Revoked"

    job_name = models.CharField(max_length=100, db_index=True)
    task_name = models.CharField(max_length=200)
    task_id = models.CharField(max_length=255, unique=True)
    trigger = models.CharField(max_length=20, choices=Trigger.choices, default=Trigger.SCHEDULE)
    triggered_by = models.CharField(max_length=150, blank=True, default="")
    correlation_id = models.CharField(max_length=64, blank=True, default="", db_index=True)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.QUEUED)
    args = models.JSONField(default=list, blank=True)
    kwargs = models.JSONField(default=dict, blank=True)
    queued_at = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    duration_ms = models.PositiveIntegerField(null=True, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    summary = models.JSONField(default=dict, blank=True)
    error = models.TextField(blank=True, default="")
    worker = models.CharField(max_length=200, blank=True, default="")
    subject = models.JSONField(
        default=dict, blank=True, help_text='What the run works on, e.g. {"playlist": "<uuid>", "account": "<uuid>"}.'
    )

    class Meta:
        # The table kept its name when the model moved here from `metrics`: no data migrated.
        db_table = "metrics_jobrun"
        ordering = ["-started_at", "-id"]
        indexes = [
            models.Index(fields=["job_name", "-started_at"]),
            models.Index(fields=["status", "-started_at"]),
            # Runs finished since X: the job_slow/job_fast rules every minute, the duration windows,
            # failing jobs (bench: a sequential scan of 100k runs became a 0.4 ms index scan).
            models.Index(fields=["status", "-finished_at"]),
            # One job's runs of one status by finish: its last success and the failures since
            # (JobFailing, one probe per job), its successful durations over a window (job_slow,
            # job_fast: duration_ms read from the index alone).
            models.Index(
                fields=["job_name", "status", "-finished_at"], include=["duration_ms"], name="jobrun_job_status_finished"
            ),
            models.Index(fields=["-started_at"]),
            # "Every run that touched playlist X": subject @> {"playlist": X} (docs/runbooks/who-did-what.md).
            GinIndex(fields=["subject"], name="jobrun_subject_gin", opclasses=["jsonb_path_ops"]),
        ]

    def __str__(self) -> str:
        return f"{self.job_name} {self.task_id} [{self.status}]"


class JobPing(models.Model):
    """An outside monitor's ping URL for one job (healthchecks.io-style: `<url>/start`, `<url>`,
    `<url>/fail`), so something beyond this stack notices when the whole stack is down.
    Encrypted: whoever knows a ping URL can fake the job's heartbeat."""

    job_name = models.CharField(max_length=100, unique=True)
    url = EncryptedTextField(help_text="e.g. https://hc-ping.com/<uuid>; never shown again once saved.")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["job_name"]
        verbose_name = "job ping URL"

    def __str__(self) -> str:
        return f"ping for {self.job_name}"


class KillSwitch(models.Model):
    """The one global pause of all work (jobs.control): while engaged no worker takes anything
    from any queue and beat sends nothing; it resumes on an admin's word or at `resume_at`.
    One row (pk 1), written only through jobs.control; its history is the audit trail."""

    SINGLETON = 1

    id = models.PositiveSmallIntegerField(primary_key=True, default=SINGLETON, editable=False)
    engaged = models.BooleanField(default=False)
    reason = models.TextField(blank=True, default="")
    engaged_by = models.CharField(max_length=150, blank=True, default="")
    engaged_at = models.DateTimeField(null=True, blank=True)
    resume_at = models.DateTimeField(null=True, blank=True, help_text="Resumed by beat at this time (UTC) if set.")
    released_by = models.CharField(max_length=150, blank=True, default="")
    released_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = "kill switch"
        verbose_name_plural = "kill switch"
        constraints = [models.CheckConstraint(condition=models.Q(id=1), name="jobs_killswitch_singleton")]

    def __str__(self) -> str:
        return f"kill switch ({'engaged' if self.engaged else 'off'})"
