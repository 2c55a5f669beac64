"""The built-in alert rules, upserted by a data migration and `manage.py setup_alert_rules`.

Like the job schedule (jobs/schedule.py) the rules are code, but only ever
*created*: once a rule exists it belongs to the operators, and no deploy overwrites their
thresholds, channels or `enabled`. The names follow the source runbooks' alert index.
"""

from __future__ import annotations

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
        "No Celery worker answers a ping.",
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
    RuleSpec(
        "DataQualityScoreLow",
        "data_quality",
        "warning",
        "Average track quality score below N.",
        {"threshold": 60, "min_tracks": 100},
        1440,
        runbook="data-quality.md",
        pending_minutes=60,
    ),
)


def alert_rules_setup(*, apps: Any = global_apps) -> list[str]:
    """Create the built-in rules that do not exist yet; returns the names created."""
    AlertRule = apps.get_model("alerts", "AlertRule")
    existing = set(AlertRule.objects.filter(name__in=[r.name for r in RULES]).values_list("name", flat=True))
    # An early migration calls this with a historical model that lacks the later fields.
    fields = {f.name for f in AlertRule._meta.get_fields()}
    created = []
    for spec in RULES:
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
            name=spec.name, defaults={name: value for name, value in defaults.items() if name in fields}
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
