"""The incident timeline: one chronological stream of what happened and what changed over a
window (docs/runbooks/incident-timeline.md).

Each source is read with one bounded query over its time index (at most TIMELINE_SOURCE_LIMIT rows,
the latest ones: the end of the window is usually the incident), and a source that had more says
so in `truncated`; the streams are merged by time. The query count does not grow with the events.

Fleet-wide changes (deploys, circuit breakers, connector and rate-limit settings, queue pauses,
app capabilities) stay in a view filtered by account, playlist or subject: they are the context
an incident on one subject is read against.
"""

from __future__ import annotations

import csv
import io
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import Q
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import NoReverseMatch, URLPattern, path, reverse
from django.utils import timezone
from django.utils.http import urlencode
from rest_framework import serializers

from accounts.models import AccountHealthChange
from alerts.conditions import job_slow_params
from alerts.models import AlertEvent, AlertRule
from audit.models import AuditEvent
from core.actors import is_operator
from core.models import ProcessStart
from jobs.models import JobRun
from jobs.selectors import duration_text, job_duration_stats

# The widest window the API and the admin page read (one constant: a 400 beyond it).
TIMELINE_MAX_WINDOW = timedelta(days=7)
TIMELINE_DEFAULT_WINDOW = timedelta(hours=6)
TIMELINE_SOURCE_LIMIT = 1000

SOURCES = ("alerts", "audit", "job_runs", "account_health", "deploys")

# Alert events worth a line: "notified" and "pending" say nothing an operator acted on.
_ALERT_EVENT_KINDS = {
    AlertEvent.Kind.OPENED: "alert_opened",
    AlertEvent.Kind.RESOLVED: "alert_resolved",
    AlertEvent.Kind.ACKNOWLEDGED: "alert_acknowledged",
    AlertEvent.Kind.SILENCED: "alert_silenced",
    AlertEvent.Kind.SNOOZED: "alert_snoozed",
    AlertEvent.Kind.FLAPPING: "alert_flapping",
}
# Audit actions whose kind says more than "an operator action"; the fleet-wide ones stay in a
# view filtered by subject.
_AUDIT_KINDS = {
    "circuit_breaker.open": "breaker_opened",
    "circuit_breaker.close": "breaker_closed",
    "circuit_breaker.reset": "breaker_reset",
    "circuit_breaker.reset_all": "breaker_reset",
    "connector.change": "connector_change",
    "connectors.reload": "connector_change",
    "rate_limit.change": "rate_limit_change",
    "rate_limit.reset": "rate_limit_change",
    "queue.pause": "queue_paused",
    "queue.resume": "queue_resumed",
    "spotify_app.capability": "app_capability",
}
# The alert's own events say these (with the same actor): one line each, not two.
_AUDIT_SHOWN_BY_ALERTS = ("alert.acknowledge", "alert.snooze", "alert.resolve")

KINDS = (
    *_ALERT_EVENT_KINDS.values(),
    *sorted(set(_AUDIT_KINDS.values())),
    "operator_action",
    "system",
    "job_failed",
    "job_slow",
    "account_health",
    "deploy",
    "process_start",
)


@dataclass(frozen=True)
class TimelineEvent:
    at: datetime
    kind: str
    subject: str
    summary: str
    actor: str  # empty when nobody acted (the evaluator, a breaker, evidence)
    link: str  # the admin page of the row it comes from
    source: str


@dataclass(frozen=True)
class TimelineFilter:
    """Narrow the subject-bound sources to one account, playlist or other subject (a job name,
    a breaker, an alert's subject); empty: everything."""

    account: uuid.UUID | None = None
    playlist: uuid.UUID | None = None
    subject: str = ""

    @property
    def active(self) -> bool:
        return bool(self.account or self.playlist or self.subject)

    def idents(self) -> list[str]:
        return [str(value) for value in (self.account, self.playlist) if value] + ([self.subject] if self.subject else [])


def _admin_url(name: str, *args: Any) -> str:
    try:
        return reverse(f"admin:{name}", args=args)
    except NoReverseMatch:
        return ""


def _latest(queryset: Any, field: str, limit: int) -> tuple[list[Any], bool]:
    rows = list(queryset.order_by(f"-{field}", "-id")[: limit + 1])
    return rows[:limit], len(rows) > limit


def _alert_events(since: datetime, until: datetime, where: TimelineFilter, limit: int) -> tuple[list[TimelineEvent], bool]:
    queryset = AlertEvent.objects.filter(at__gte=since, at__lt=until, kind__in=list(_ALERT_EVENT_KINDS)).select_related(
        "alert__rule"
    )
    if where.active:
        queryset = queryset.filter(alert__subject__in=where.idents())
    rows, cut = _latest(queryset, "at", limit)
    events = []
    for row in rows:
        alert = row.alert
        summary = f"{alert.rule.name} {row.get_kind_display().lower()}: {alert.summary or alert.subject_label or alert.subject}"
        events.append(
            TimelineEvent(
                at=row.at,
                kind=_ALERT_EVENT_KINDS[row.kind],
                subject=alert.subject_label or alert.subject,
                summary=summary + (f" ({row.note})" if row.note else ""),
                actor=row.actor if is_operator(row.actor) else "",
                link=_admin_url("alerts_alert_change", alert.pk),
                source="alerts",
            )
        )
    return events, cut


def _audit_events(since: datetime, until: datetime, where: TimelineFilter, limit: int) -> tuple[list[TimelineEvent], bool]:
    queryset = AuditEvent.objects.filter(at__gte=since, at__lt=until).exclude(action__in=_AUDIT_SHOWN_BY_ALERTS)
    if where.active:
        queryset = queryset.filter(Q(target_id__in=where.idents()) | Q(action__in=list(_AUDIT_KINDS)))
    rows, cut = _latest(queryset, "at", limit)
    events = []
    for row in rows:
        system = row.door == AuditEvent.Door.SYSTEM
        kind = _AUDIT_KINDS.get(row.action) or ("system" if system else "operator_action")
        target = row.target_repr or row.target_id or row.target_type
        summary = f"{row.action} {target}".strip()
        if not system:
            summary += f" (via {row.get_door_display().lower()})"
        if row.outcome != AuditEvent.Outcome.OK:
            summary += f": {row.get_outcome_display().lower()}"
        if row.action == "circuit_breaker.open" and row.details.get("error"):
            summary += f": {row.details['error']}"
        events.append(
            TimelineEvent(
                at=row.at,
                kind=kind,
                subject=target,
                summary=summary,
                actor="" if system else row.actor,
                link=_admin_url("audit_auditevent_change", row.pk),
                source="audit",
            )
        )
    return events, cut


def _slow_thresholds(since: datetime) -> dict[str, float]:
    """Per job, the duration (ms) past which a run "ran long": the JobSlow rule's definition
    (factor × the job's p95 over the days before the window, over its floor), with the enabled
    rule's parameters. Two queries, whatever the number of jobs."""
    stored = AlertRule.objects.filter(kind=AlertRule.Kind.JOB_SLOW, enabled=True).values_list("params", flat=True).first()
    try:
        params = job_slow_params(stored or {})
    except ValueError:
        params = job_slow_params({})
    history = job_duration_stats(days=(params.window_days,), now=since)
    thresholds = {}
    for job_name, windows in history.items():
        stats = windows[params.window_days]
        if stats.runs >= params.min_runs and stats.p95_ms is not None:
            thresholds[job_name] = max(params.factor * stats.p95_ms, params.min_seconds * 1000)
    return thresholds


def _job_runs(since: datetime, until: datetime, where: TimelineFilter, limit: int) -> tuple[list[TimelineEvent], bool]:
    thresholds = _slow_thresholds(since)
    # Each branch names its status, so PostgreSQL reads the (status, -finished_at) index.
    bad = Q(status=JobRun.Status.FAILED)
    for job_name, ms in thresholds.items():
        bad |= Q(status=JobRun.Status.SUCCESS, job_name=job_name, duration_ms__gt=ms)
    queryset = JobRun.objects.filter(bad, finished_at__gte=since, finished_at__lt=until).only(
        "id", "job_name", "status", "finished_at", "duration_ms", "error", "trigger", "triggered_by", "subject"
    )
    if where.active:
        subject = Q(job_name__in=where.idents())
        if where.account:
            subject |= Q(subject__contains={"account": str(where.account)})
        if where.playlist:
            subject |= Q(subject__contains={"playlist": str(where.playlist)})
        queryset = queryset.filter(subject)
    rows, cut = _latest(queryset, "finished_at", limit)
    events = []
    for run in rows:
        took = duration_text(run.duration_ms or 0)
        if run.status == JobRun.Status.FAILED:
            kind, summary = "job_failed", f"{run.job_name} failed after {took}: {(run.error or 'no error text')[:300]}"
        else:
            kind = "job_slow"
            summary = f"{run.job_name} ran long: {took} (its usual p95 × factor is {duration_text(thresholds[run.job_name])})"
        events.append(
            TimelineEvent(
                at=run.finished_at,
                kind=kind,
                subject=run.job_name,
                summary=summary,
                actor=run.triggered_by if is_operator(run.triggered_by) else "",
                link=_admin_url("jobs_jobrun_change", run.pk),
                source="job_runs",
            )
        )
    return events, cut


def _health_changes(since: datetime, until: datetime, where: TimelineFilter, limit: int) -> tuple[list[TimelineEvent], bool]:
    queryset = AccountHealthChange.objects.filter(at__gte=since, at__lt=until).select_related("account")
    if where.active:
        if not where.account:
            return [], False  # a playlist or another subject has no account health of its own
        queryset = queryset.filter(account_id=where.account)
    rows, cut = _latest(queryset, "at", limit)
    events = []
    for row in rows:
        name = row.account.display_name
        summary = f"{name}: {row.from_health or 'new'} → {row.to_health}" + (f" ({row.reason})" if row.reason else "")
        events.append(
            TimelineEvent(
                at=row.at,
                kind="account_health",
                subject=name,
                summary=summary,
                actor=row.actor,
                link=_admin_url("accounts_spotifyaccount_change", row.account_id),
                source="account_health",
            )
        )
    return events, cut


def _process_starts(since: datetime, until: datetime, where: TimelineFilter, limit: int) -> tuple[list[TimelineEvent], bool]:
    rows, cut = _latest(ProcessStart.objects.filter(started_at__gte=since, started_at__lt=until), "started_at", limit)
    events = []
    for row in rows:
        summary = f"{row.get_kind_display()} started on {row.hostname} (pid {row.pid}) running {row.version}"
        if row.is_deploy:
            summary += f", was {row.previous_version}" if row.previous_version else " (first start)"
        events.append(
            TimelineEvent(
                at=row.started_at,
                kind="deploy" if row.is_deploy else "process_start",
                subject=row.name or f"{row.kind}@{row.hostname}",
                summary=summary,
                actor="",
                link=_admin_url("opsconsole_processstart_change", row.pk),
                source="deploys",
            )
        )
    return events, cut


_READERS = {
    "alerts": _alert_events,
    "audit": _audit_events,
    "job_runs": _job_runs,
    "account_health": _health_changes,
    "deploys": _process_starts,
}


def incident_timeline(
    *,
    since: datetime,
    until: datetime,
    where: TimelineFilter | None = None,
    limit: int = TIMELINE_SOURCE_LIMIT,
) -> dict[str, Any]:
    """Every event in [since, until), oldest first: {since, until, events: [TimelineEvent],
    truncated: [source names that had more than `limit`]}. Callers check the window
    (TIMELINE_MAX_WINDOW); this reads whatever it is given."""
    where = where or TimelineFilter()
    events: list[TimelineEvent] = []
    truncated = []
    for name, read in _READERS.items():
        found, cut = read(since, until, where, limit)
        events.extend(found)
        if cut:
            truncated.append(name)
    events.sort(key=lambda event: (event.at, SOURCES.index(event.source)))
    return {"since": since, "until": until, "events": events, "truncated": truncated}


# Older than this cannot be anything the console recorded (and date arithmetic stays in range).
_EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)


class TimelineQuerySerializer(serializers.Serializer):  # type: ignore[type-arg]
    """The window and filters of the API and the admin page, checked once: `until` defaults to
    now, `since` to TIMELINE_DEFAULT_WINDOW before it; at most TIMELINE_MAX_WINDOW apart.
    Query parameters nobody reads are ignored, as on every list endpoint."""

    since = serializers.DateTimeField(required=False, help_text="Start (ISO 8601); default: 6 hours before `until`.")
    until = serializers.DateTimeField(required=False, help_text="End, exclusive (ISO 8601); default: now.")
    account = serializers.UUIDField(required=False, help_text="Only this account's events (and fleet-wide changes).")
    playlist = serializers.UUIDField(required=False, help_text="Only this playlist's events (and fleet-wide changes).")
    subject = serializers.CharField(
        required=False, max_length=200, help_text="Only this subject's events: a job name, a breaker, an alert's subject."
    )

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        until = attrs.get("until") or timezone.now()
        since = attrs.get("since")
        errors: dict[str, str] = {}
        for name, moment in (("since", since), ("until", until)):
            if moment is not None and moment < _EARLIEST:
                errors[name] = f"Must be after {_EARLIEST:%Y-%m-%d}."
        if errors:
            raise serializers.ValidationError(errors)
        since = since or until - TIMELINE_DEFAULT_WINDOW
        if until <= since:
            raise serializers.ValidationError({"until": "Must be later than `since`."})
        if until - since > TIMELINE_MAX_WINDOW:
            raise serializers.ValidationError(
                {"since": f"A window of at most {TIMELINE_MAX_WINDOW.days} days: move `since` or `until`."}
            )
        return {
            "since": since,
            "until": until,
            "where": TimelineFilter(
                account=attrs.get("account"), playlist=attrs.get("playlist"), subject=attrs.get("subject", "")
            ),
        }


CSV_COLUMNS = ("at", "kind", "subject", "summary", "actor", "link")


def timeline_rows(timeline: dict[str, Any], *, absolute: Any = None) -> list[dict[str, Any]]:
    """The events as the API and the exports show them; `absolute` turns an admin path into a URL."""
    return [
        {
            "at": event.at,
            "kind": event.kind,
            "subject": event.subject,
            "summary": event.summary,
            "actor": event.actor,
            "link": absolute(event.link) if absolute and event.link else event.link,
        }
        for event in timeline["events"]
    ]


def timeline_csv(rows: list[dict[str, Any]]) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(CSV_COLUMNS)
    for row in rows:
        writer.writerow([row["at"].isoformat() if name == "at" else row[name] for name in CSV_COLUMNS])
    return out.getvalue()


def timeline_admin_view(request: HttpRequest, model_admin: admin.ModelAdmin) -> HttpResponse:
    """The incident timeline's admin page: a filter form, the events and their downloads (the
    API's own `?format=csv|json` with the same query: one export)."""
    if not model_admin.has_view_permission(request):
        raise PermissionDenied
    query = TimelineQuerySerializer(data=request.GET)
    status = 200
    if not query.is_valid():
        for name, errors in query.errors.items():
            for error in errors:
                messages.error(request, f"{name}: {error}" if name != "non_field_errors" else str(error))
        status = 400
        query = TimelineQuerySerializer(data={})
        query.is_valid()
    timeline = incident_timeline(**query.validated_data)
    where: TimelineFilter = query.validated_data["where"]
    shown = {
        "since": timeline["since"].isoformat(),
        "until": timeline["until"].isoformat(),
        **{name: str(value) for name in ("account", "playlist") if (value := getattr(where, name))},
        **({"subject": where.subject} if where.subject else {}),
    }
    now = timezone.now()
    context = {
        **model_admin.admin_site.each_context(request),
        "title": "Incident timeline",
        "opts": model_admin.model._meta,
        "since": timeline["since"],
        "until": timeline["until"],
        "where": where,
        "events": timeline["events"],
        "truncated": timeline["truncated"],
        "limit": TIMELINE_SOURCE_LIMIT,
        "max_days": TIMELINE_MAX_WINDOW.days,
        "csv_url": f"{reverse('timeline')}?{urlencode({**shown, 'format': 'csv'})}",
        "json_url": f"{reverse('timeline')}?{urlencode({**shown, 'format': 'json'})}",
        "presets": [
            (label, urlencode({"since": (now - span).isoformat(), "until": now.isoformat()}))
            for label, span in (("30 min", timedelta(minutes=30)), ("6 h", timedelta(hours=6)), ("24 h", timedelta(days=1)))
        ],
    }
    return TemplateResponse(request, "admin/metrics/timeline.html", context, status=status)


def timeline_admin_urls(model_admin: admin.ModelAdmin) -> list[URLPattern]:
    """/admin/metrics/metricsnapshot/timeline/ (docs/runbooks/incident-timeline.md)."""
    return [
        path(
            "timeline/",
            model_admin.admin_site.admin_view(lambda request: timeline_admin_view(request, model_admin)),
            name="metrics_timeline",
        )
    ]
