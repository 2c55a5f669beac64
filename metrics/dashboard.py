"""The admin dashboard: the first screen of an incident.

A custom admin view the Django way (django.contrib.auth's UserAdmin.get_urls): served from
MetricSnapshotAdmin.get_urls() through admin_site.admin_view, rendered with TemplateResponse
and admin_site.each_context. Trend charts come from the hourly MetricSnapshots (Chart.js,
shipped as a static file); the "now" panels read live state.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.db.models import Count, Max
from django.http import HttpRequest, JsonResponse
from django.template.response import TemplateResponse
from django.urls import NoReverseMatch, URLPattern, path, reverse
from django.utils import timezone

from jobs.models import JobRun
from jobs.selectors import job_duration_daily_p95
from metrics.models import MetricSnapshot
from metrics.selectors import snapshot_quality

logger = logging.getLogger(__name__)

RANGES = {"24h": timedelta(hours=24), "7d": timedelta(days=7), "30d": timedelta(days=30)}
# The panels refresh in place this often (metrics/static/metrics/dashboard_live.js); ?refresh=N overrides.
REFRESH_SECONDS = 30
FAILING_WINDOW = timedelta(hours=24)


def _admin_url(name: str, *args: Any) -> str:
    # Apps register their admins independently: a missing one hides a link, never breaks the page.
    try:
        return reverse(f"admin:{name}", args=args)
    except NoReverseMatch:
        return ""


def _chart_data(since: Any) -> dict[str, Any]:
    rows = list(
        MetricSnapshot.objects.filter(taken_at__gte=since)
        .order_by("taken_at")
        .values(
            "taken_at",
            "accounts_by_health",
            "playlists_active",
            "tracks_total",
            "tracks_with_features",
            "reshuffles",
            "retries",
            "dead_letters",
            "job_failures",
        )
    )
    health_states = sorted({state for row in rows for state in (row["accounts_by_health"] or {})}) or ["ok"]
    return {
        "labels": [row["taken_at"].strftime("%Y-%m-%d %H:%M") for row in rows],
        "accounts": {state: [int((row["accounts_by_health"] or {}).get(state, 0)) for row in rows] for state in health_states},
        "playlists_active": [row["playlists_active"] for row in rows],
        "tracks_total": [row["tracks_total"] for row in rows],
        "tracks_with_features": [row["tracks_with_features"] for row in rows],
        "reshuffles": [row["reshuffles"] for row in rows],
        "job_failures": [row["job_failures"] for row in rows],
        "dead_letters": [row["dead_letters"] for row in rows],
        "retries": [row["retries"] for row in rows],
    }


def _account_health() -> dict[str, Any]:
    from accounts.models import SpotifyAccount

    counts = dict(
        SpotifyAccount.objects.filter(is_active=True).values_list("health").annotate(n=Count("pk")).values_list("health", "n")
    )
    unhealthy = list(
        SpotifyAccount.objects.filter(is_active=True)
        .exclude(health=SpotifyAccount.Health.OK)
        .order_by("health", "display_name")
        .only("pk", "display_name", "spotify_user_id", "health", "health_reason", "last_error_at")[:20]
    )
    for account in unhealthy:
        account.admin_url = _admin_url("accounts_spotifyaccount_change", account.pk)  # type: ignore[attr-defined]
    return {
        "counts": [(label, counts.get(value, 0), value) for value, label in SpotifyAccount.Health.choices],
        "unhealthy": unhealthy,
        "inactive": SpotifyAccount.objects.filter(is_active=False).count(),
    }


def _failing_jobs(now: Any) -> list[dict[str, Any]]:
    """Jobs with failed runs in the window, most failures first, each with its newest failure's
    last error line: two queries however many jobs failed."""
    failed = JobRun.objects.filter(status=JobRun.Status.FAILED, finished_at__gte=now - FAILING_WINDOW)
    rows: list[dict[str, Any]] = [
        dict(row)
        for row in failed.values("job_name")
        .annotate(failures=Count("pk"), last_failed_at=Max("finished_at"))
        .order_by("-failures", "job_name")[:20]
    ]
    newest = {
        run.job_name: run
        for run in failed.filter(job_name__in=[row["job_name"] for row in rows])
        .order_by("job_name", "-finished_at", "-id")
        .distinct("job_name")
        .only("job_name", "error")
    }
    for row in rows:
        last = newest.get(row["job_name"])
        row["last_error"] = (last.error.splitlines() or [""])[-1][:200] if last else ""
        row["last_run_id"] = last.pk if last else None
    return rows


def _dead_letters() -> dict[str, Any]:
    from ingest.models import DeadLetter

    pending = DeadLetter.objects.filter(status=DeadLetter.Status.PENDING)
    return {
        "pending": pending.count(),
        "by_source": list(pending.values("source_service").annotate(n=Count("pk")).order_by("-n")[:10]),
        "oldest": pending.order_by("first_seen").values_list("first_seen", flat=True).first(),
    }


def _circuits() -> dict[str, Any]:
    try:
        from spotify.breaker import breaker_states
    except ImportError:
        return {"available": False, "open": []}
    try:
        states = breaker_states()
    except Exception:
        logger.exception("dashboard: breaker states unavailable")
        return {"available": False, "open": []}
    return {"available": True, "open": [state for state in states if state.get("state") != "closed"], "total": len(states)}


def _late_jobs(now: Any) -> list[dict[str, Any]]:
    try:
        from jobs.selectors import jobs_late
    except ImportError:
        return []
    try:
        return jobs_late(now=now)
    except Exception:
        logger.exception("dashboard: late jobs unavailable")
        return []


def _ingest(now: Any, latest: MetricSnapshot | None) -> dict[str, Any]:
    """Stalled queue, disabled connectors (ingest app's selectors) and track quality tiers, as the
    latest hourly snapshot counted them (counting 10M tracks on each refresh took 5.5 s)."""
    from ingest.quality import tracks_quality_tally
    from ingest.selectors import ingest_stalled
    from spotify.connectors import connector_settings_all

    report: dict[str, Any] = {"stalled": None, "disabled": [], "quality": {}, "quality_counted_at": None, "error": ""}
    try:
        report["stalled"] = ingest_stalled(now=now)
        report["disabled"] = sorted(name for name, config in connector_settings_all().items() if not config.enabled)
        kept = snapshot_quality(latest)
        report["quality"] = (kept or tracks_quality_tally()).counts
        report["quality_counted_at"] = kept.counted_at if kept else None
    except Exception as exc:
        logger.exception("dashboard: ingest state unavailable")
        report["error"] = type(exc).__name__
    return report


def _drift(now: Any) -> dict[str, Any]:
    """Drift found and repaired by verify_playlists (Redis counters, as in /metrics), and the
    active playlists it leaves alone: frozen ones, and those parked until a later time."""
    from core.counters import counter_values
    from playlists.models import Playlist

    report: dict[str, Any] = {"found": 0, "repaired": 0, "frozen": 0, "parked": 0, "error": ""}
    try:
        report["found"] = int(sum(value for _, value in counter_values("playlist_drift_found_total")))
        report["repaired"] = int(sum(value for _, value in counter_values("playlist_drift_repaired_total")))
    except Exception as exc:
        logger.exception("dashboard: drift counters unavailable")
        report["error"] = type(exc).__name__
    active = Playlist.objects.filter(status=Playlist.Status.ACTIVE)
    report["frozen"] = active.filter(frozen=True).count()
    report["parked"] = active.filter(not_before__gt=now).count()
    return report


def _queues() -> dict[str, Any]:
    """Queue depth and beat from Redis and the DB only: no worker broadcast on a page load."""
    from jobs.control import kill_switch_state, queues_held
    from jobs.queues import declared_queues, queue_lengths
    from metrics.queues import scheduler_status

    report: dict[str, Any] = {"sizes": [], "scheduler": None, "error": "", "paused": [], "kill_switch": kill_switch_state()}
    try:
        report["paused"] = sorted(queues_held())
        report["sizes"] = sorted(queue_lengths(declared_queues()).items())
        report["scheduler"] = scheduler_status()
    except Exception as exc:
        logger.exception("dashboard: queue state unavailable")
        report["error"] = type(exc).__name__
    return report


def _alerts(now: datetime) -> dict[str, Any]:
    """Opened alerts (open first; pending ones only counted), active and scheduled silences
    (maintenance windows), and channels failing longer than a rule interval."""
    from alerts.admin import STATE_ORDER
    from alerts.models import Alert, AlertSilence
    from alerts.services import channels_failing

    report: dict[str, Any] = {"open": [], "pending": 0, "silences": [], "failing_channels": []}
    try:
        opened = Alert.objects.opened().select_related("rule").annotate(state_order=STATE_ORDER)
        report["open"] = list(opened.order_by("state_order", "severity", "-opened_at")[:20])
        report["pending"] = Alert.objects.filter(state=Alert.State.PENDING).count()
        silences = AlertSilence.objects.filter(expired_at__isnull=True, ends_at__gt=now).select_related("rule")
        report["silences"] = [
            {"silence": silence, "status": silence.status_at(now)} for silence in silences.order_by("starts_at", "id")[:20]
        ]
        report["failing_channels"] = channels_failing()
    except Exception:
        logger.exception("dashboard: alerts unavailable")
    return report


def home_strip(request: HttpRequest) -> list[dict[str, Any]]:
    """The operations home's status strip (docs/runbooks/operations-home.md): what needs an
    operator now, each a count and the list it comes from. Counts only: it is on every visit
    to the admin's index, and refreshed there like the dashboard's panels."""
    from accounts.models import SpotifyAccount
    from alerts.models import Alert
    from ingest.models import DeadLetter

    now = timezone.now()
    opened = dict(Alert.objects.opened().values_list("severity").annotate(n=Count("pk")).values_list("severity", "n"))
    attention = SpotifyAccount.objects.filter(is_active=True).exclude(health=SpotifyAccount.Health.OK).count()
    queues = _queues()
    kill_switch = queues["kill_switch"]
    waiting = sum(size for _, size in queues["sizes"])
    late = _late_jobs(now)
    letters = DeadLetter.objects.filter(status=DeadLetter.Status.PENDING).count()
    alerts_url = _admin_url("alerts_alert_changelist")
    items = [
        {
            "key": "critical",
            "label": "critical alerts",
            "count": opened.get("critical", 0),
            "bad": bool(opened.get("critical")),
            "link": f"{alerts_url}?severity__exact=critical" if alerts_url else "",
        },
        {
            "key": "warning",
            "label": "warnings",
            "count": opened.get("warning", 0),
            "bad": False,
            "link": f"{alerts_url}?severity__exact=warning" if alerts_url else "",
        },
        {
            "key": "late_jobs",
            "label": "late jobs",
            "count": len(late),
            "bad": bool(late),
            "link": _admin_url("django_celery_beat_periodictask_changelist"),
        },
        {
            "key": "accounts",
            "label": "accounts needing attention",
            "count": attention,
            "bad": bool(attention),
            "link": (
                _admin_url("accounts_spotifyaccount_changelist")
                + "?is_active__exact=1&health__in=degraded,quarantined,reauth_required"
            )
            if _admin_url("accounts_spotifyaccount_changelist")
            else "",
        },
        {
            "key": "queued",
            "label": "tasks queued",
            "count": waiting,
            "bad": False,
            "link": reverse("ops-queues"),
            "note": ("paused: " + ", ".join(queues["paused"])) if queues["paused"] else "",
        },
        {
            "key": "kill_switch",
            "label": "kill switch",
            "count": "ON" if kill_switch["engaged"] else "off",
            "bad": kill_switch["engaged"],
            "link": _admin_url("jobs_killswitch_changelist"),
            "note": f"{kill_switch['reason']} ({kill_switch['by']})" if kill_switch["engaged"] else "",
        },
        {
            "key": "dead_letters",
            "label": "dead letters",
            "count": letters,
            "bad": letters > 0,
            "link": _admin_url("ingest_deadletter_changelist"),
        },
    ]
    return items


def dashboard_context(*, range_key: str) -> dict[str, Any]:
    now = timezone.now()
    since = now - RANGES[range_key]
    latest = MetricSnapshot.objects.order_by("-taken_at").first()
    return {
        "range_key": range_key,
        "ranges": list(RANGES),
        "chart_data": _chart_data(since),
        "snapshot_count": MetricSnapshot.objects.filter(taken_at__gte=since).count(),
        "latest_snapshot": latest,
        "accounts": _account_health(),
        "failing_jobs": _failing_jobs(now),
        "dead_letters": _dead_letters(),
        "circuits": _circuits(),
        "late_jobs": _late_jobs(now),
        "queues": _queues(),
        "ingest": _ingest(now, latest),
        "drift": _drift(now),
        "alerts": _alerts(now),
        "now": now,
        "links": {
            "job_runs": _admin_url("jobs_jobrun_changelist"),
            "job_durations": _admin_url("metrics_dashboard_job_durations"),
            "alerts": _admin_url("alerts_alert_changelist"),
            "silences": _admin_url("alerts_alertsilence_changelist"),
            "periodic_tasks": _admin_url("django_celery_beat_periodictask_changelist"),
            "dead_letters": _admin_url("ingest_deadletter_changelist"),
            "album_sources": _admin_url("ingest_albumsource_changelist"),
            "connectors": _admin_url("spotify_connectorsetting_changelist"),
            "playlists": _admin_url("playlists_playlist_changelist"),
            "low_quality": (_admin_url("ingest_track_changelist") + "?quality=low")
            if _admin_url("ingest_track_changelist")
            else "",
        },
    }


def dashboard_view(request: HttpRequest, model_admin: admin.ModelAdmin) -> TemplateResponse:
    if not model_admin.has_view_permission(request):
        raise PermissionDenied
    range_key = request.GET.get("range", "24h")
    if range_key not in RANGES:
        range_key = "24h"
    refresh = request.GET.get("refresh", "")
    refresh_seconds = min(max(int(refresh), 1), 3600) if refresh.isdigit() else REFRESH_SECONDS
    context = {
        **model_admin.admin_site.each_context(request),
        "title": "Operations dashboard",
        "opts": MetricSnapshot._meta,
        "refresh_seconds": refresh_seconds,
        **dashboard_context(range_key=range_key),
    }
    return TemplateResponse(request, "admin/metrics/dashboard.html", context)


def job_durations_view(request: HttpRequest, model_admin: admin.ModelAdmin) -> JsonResponse:
    """The job-duration charts' data, fetched once by the page: the live refresh re-renders the
    page every REFRESH_SECONDS and never redraws a chart, so it does not pay for this query."""
    if not model_admin.has_view_permission(request):
        raise PermissionDenied
    return JsonResponse(job_duration_daily_p95())


def dashboard_urls(model_admin: admin.ModelAdmin) -> list[URLPattern]:
    """URL patterns to prepend in a ModelAdmin.get_urls(): /admin/metrics/metricsnapshot/dashboard/
    and its job-durations.json (staff only, as every admin_view)."""
    return [
        path(
            "dashboard/",
            model_admin.admin_site.admin_view(lambda request: dashboard_view(request, model_admin)),
            name="metrics_dashboard",
        ),
        path(
            "dashboard/job-durations.json",
            model_admin.admin_site.admin_view(lambda request: job_durations_view(request, model_admin)),
            name="metrics_dashboard_job_durations",
        ),
    ]
