"""The built-in alert rules, upserted by a data migration and `manage.py setup_alert_rules`.

Like the job schedule (jobs/schedule.py) the rules are code, but only ever
*created*: once a rule exists it belongs to the operators, and no deploy overwrites their
thresholds, channels or `enabled`. The names follow the source runbooks' alert index.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from django.apps import apps as global_apps


@dataclass(frozen=True)
class RuleSpec:
    name: str
    kind: str
    severity: str
    description: str
    params: dict[str, Any] = field(default_factory=dict)
    reminder_minutes: int = 60
    # A file under docs/runbooks/: what the on-call does when the rule fires.
    runbook: str = ""
    # How long the condition must hold before the alert opens (Prometheus' `for:`).
    pending_minutes: int = 0


RULES: tuple[RuleSpec, ...] = (
    RuleSpec(
        "JobFailing",
        "job_failed",
        "critical",
        "A scheduled job failed N times in a row.",
        {"times": 3},
        runbook="dashboard-job-history.md",
    ),
    RuleSpec(
        "JobLate",
        "job_late",
        "warning",
        "A scheduled job did not start or finish within its grace period.",
        runbook="list-toggle-jobs.md",
        pending_minutes=5,
    ),
    # Seed 003: "open for > 5 minutes". The `minutes` param measures that from the moment the
    # breaker opened, so no pending period is added on top (it would make it 10).
    RuleSpec(
        "CircuitBreakerOpen",
        "circuit_open",
        "critical",
        "A Spotify circuit stayed open longer than X minutes.",
        {"minutes": 5},
        30,
        runbook="dead-letters-circuit-breakers.md",
    ),
    RuleSpec(
        "DLQDepthCritical",
        "dead_letters",
        "critical",
        "Dead letters pending above 1,000.",
        {"threshold": 1000},
        30,
        runbook="dead-letters-circuit-breakers.md",
        pending_minutes=5,
    ),
    RuleSpec(
        "DLQDepthWarning",
        "dead_letters",
        "warning",
        "Dead letters pending above 100.",
        {"threshold": 100},
        runbook="dead-letters-circuit-breakers.md",
        pending_minutes=5,
    ),
    RuleSpec(
        "ScraperStalled",
        "ingest_stalled",
        "critical",
        "Album sources wait and none finishes (ingest stalled).",
        {},
        30,
        runbook="stalled-ingest.md",
        pending_minutes=5,
    ),
    RuleSpec(
        "AccountReauthRequired",
        "account_reauth_required",
        "critical",
        "An account needs a new authorization.",
        runbook="reauthorize-account.md",
    ),
    RuleSpec(
        "AccountReauthDue",
        "account_reauth_due",
        "warning",
        "An account's authorization ends within N days.",
        {"days": 14},
        1440,
        runbook="reauthorize-account.md",
    ),
    RuleSpec(
        "AccountQuarantined",
        "account_quarantined",
        "warning",
        "An account is quarantined until an operator acts.",
        runbook="incident-checklist.md",
    ),
    RuleSpec(
        "ConnectorDisabled",
        "connector_disabled",
        "warning",
        "A connector (source operation) is disabled.",
        runbook="connector-settings.md",
    ),
    RuleSpec(
        "NoWorkers",
        "no_workers",
        "critical",
        "No Celery worker keeps a heartbeat.",
        {},
        30,
        runbook="start-stop-stack.md",
        pending_minutes=3,
    ),
    RuleSpec(
        "BeatGone",
        "beat_gone",
        "critical",
        "Celery beat's heartbeat is stale: nothing is scheduled.",
        {},
        30,
        runbook="start-stop-stack.md",
        pending_minutes=3,
    ),
    RuleSpec(
        "QueueBacklog",
        "queue_length",
        "warning",
        "A queue holds more than N waiting messages.",
        {"threshold": 1000},
        runbook="queue-triage-drain.md",
        pending_minutes=10,
    ),
    # Seed 003's 70: a track short only of the audio features Spotify keeps from new apps scores
    # 85, one still waiting for its features 75 (every ingest queues the fetch, the hour of pending
    # covers it); an average under 70 takes a real defect (ISRC, artist, duration) on most tracks.
    RuleSpec(
        "DataQualityScoreLow",
        "data_quality",
        "warning",
        "Average track quality score below N.",
        {"threshold": 70, "min_tracks": 100},
        1440,
        runbook="data-quality.md",
        pending_minutes=60,
    ),
    # --- The rest of seed 003's alert index (P1 critical, P2 warning). The runbook gives a
    # duration only for the success rate; the others wait 5 minutes, as DLQDepthCritical does,
    # so that one spike does not page.
    RuleSpec(
        "EnrichmentSuccessRateLow",
        "enrichment_success_low",
        "warning",
        "Spotify calls: success rate over the last 5 minutes below N % (at least min_calls calls).",
        {"threshold": 70, "min_calls": 20},
        runbook="enrichment-success-rate.md",
        pending_minutes=15,
    ),
    RuleSpec(
        "DatabaseConnectionPoolHigh",
        "db_connections_high",
        "critical",
        "PostgreSQL client connections above N % of max_connections.",
        {"threshold": 80},
        30,
        runbook="database-connections.md",
        pending_minutes=5,
    ),
    RuleSpec(
        "DiskSpaceHigh",
        "disk_space_high",
        "critical",
        "Disk of the database's data directory or of var/ above N % used.",
        {"threshold": 85},
        30,
        runbook="disk-space.md",
        pending_minutes=5,
    ),
    RuleSpec(
        "MemoryUsageHigh",
        "memory_high",
        "critical",
        "Host memory above N %, or a worker pool process above worker_threshold % of WORKER_MEMORY_LIMIT_MB.",
        {"threshold": 90, "worker_threshold": 100},
        30,
        runbook="memory.md",
        pending_minutes=5,
    ),
    RuleSpec(
        "APIGatewayErrorRateHigh",
        "api_error_rate_high",
        "critical",
        "API responses (/api/): 5xx above N % over the last 5 minutes (at least min_requests).",
        {"threshold": 10, "min_requests": 20},
        30,
        runbook="api-error-rate.md",
        pending_minutes=5,
    ),
    RuleSpec(
        "LoginFailureBurst",
        "login_failure_burst",
        "warning",
        "N failed staff sign-ins (admin passwords and API tokens) within M minutes: someone may be guessing.",
        {"failures": 20, "minutes": 10},
        runbook="staff-access.md",
    ),
)

# Job durations against each job's own history (docs/runbooks/job-durations.md).
RULES += (
    RuleSpec(
        "JobSlow",
        "job_slow",
        "warning",
        "A job run took (or has been running) more than k × its job's p95 of the last days.",
        {"factor": 2.0, "window_days": 7, "min_runs": 5, "min_seconds": 10, "recent_minutes": 60},
        runbook="job-durations.md",
    ),
    RuleSpec(
        "JobFast",
        "job_fast",
        "warning",
        "A job run succeeded under its floor while the job usually takes longer: a sync that did nothing?",
        {"floor_seconds": {"default": 0.5, "jobs": {"ingest_albums_from_sources": 1}}, "window_days": 7, "min_runs": 5},
        runbook="job-durations.md",
    ),
)


def alert_rules_setup(*, apps: Any = global_apps, names: Collection[str] | None = None) -> list[str]:
    """Create the built-in rules (all, or those `names`) that do not exist yet; returns the names created.
    A data migration names its new rules: a rule an operator deleted stays deleted."""
    AlertRule = apps.get_model("alerts", "AlertRule")
    specs = [spec for spec in RULES if names is None or spec.name in names]
    existing = set(AlertRule.objects.filter(name__in=[r.name for r in specs]).values_list("name", flat=True))
    # A migration passes the model as it was then (0002 seeds before 0003 adds pending_for).
    columns = {f.name for f in AlertRule._meta.concrete_fields}
    created = []
    for spec in specs:
        if spec.name in existing:
            continue
        defaults = {
            "kind": spec.kind,
            "severity": spec.severity,
            "description": spec.description,
            "params": spec.params,
            "reminder_interval": timedelta(minutes=spec.reminder_minutes),
            "runbook": spec.runbook,
            "pending_for": timedelta(minutes=spec.pending_minutes),
        }
        _, made = AlertRule.objects.get_or_create(
            name=spec.name, defaults={name: value for name, value in defaults.items() if name in columns}
        )
        if made:
            created.append(spec.name)
    return created


def alert_rules_runbooks_fill(*, apps: Any = global_apps) -> int:
    """Give built-in rules without a runbook their shipped one; returns how many changed."""
    AlertRule = apps.get_model("alerts", "AlertRule")
    changed = 0
    for spec in RULES:
        changed += AlertRule.objects.filter(name=spec.name, runbook="").update(runbook=spec.runbook)
    return changed


def alert_rules_pending_fill(*, apps: Any = global_apps) -> int:
    """Give built-in rules that never had a pending period their shipped one (once, by migration)."""
    AlertRule = apps.get_model("alerts", "AlertRule")
    changed = 0
    for spec in RULES:
        if spec.pending_minutes:
            changed += AlertRule.objects.filter(name=spec.name, pending_for=timedelta(0)).update(
                pending_for=timedelta(minutes=spec.pending_minutes)
            )
    return changed
