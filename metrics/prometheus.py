"""`/metrics`: Prometheus text from a custom collector.

Nothing here is a prometheus-client Counter object: those live in one process's memory, and
most events (playlists created, reshuffles, Spotify retries) happen in Celery workers.
Event counters are read from Redis (core.counters, incremented wherever the event
happens); gauges and job statistics are read from the database at scrape time.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator

from django.db.models import Count, Q, Sum
from django.http import HttpRequest, HttpResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric, SummaryMetricFamily
from prometheus_client.registry import Collector

from core.counters import counter_values
from metrics.health import telemetry_allowed

logger = logging.getLogger(__name__)

# (counter name in core.counters, help text, label names)
REDIS_COUNTERS: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("playlists_created_total", "Playlists created on Spotify.", ()),
    ("reshuffles_total", "Playlist reshuffles synced to Spotify.", ()),
    ("playlist_drift_found_total", "Playlists whose Spotify side drifted (edited, emptied, renamed, deleted).", ()),
    ("playlist_drift_repaired_total", "Drifted playlists repaired by verify_playlists.", ()),
    ("spotify_retries_total", "Spotify calls retried, by response status (429, 5xx, connection).", ("status",)),
    ("spotify_requests_total", "Spotify Web API calls made, by endpoint.", ("endpoint",)),
    # Counted when a run finishes (jobs.services): pruning the job history never lowers it.
    ("job_runs_total", "Job runs finished, by job and status (success, failed).", ("job", "status")),
)


class OpsCollector(Collector):
    """Reads shared state at scrape time, so every process's events are exported."""

    def collect(self) -> Iterator[Metric]:
        errors = GaugeMetricFamily(
            "opsconsole_collector_errors",
            "1 when a section of this scrape could not be read (Redis or database down).",
            labels=["section"],
        )
        sections = (
            ("counters", self._redis_counters),
            ("accounts", self._account_health),
            ("jobs", self._job_runs),
            ("quality", self._track_quality),
            ("alerting", self._alerting),
            ("alerting_redis", self._alerting_redis),
            ("resources", self._resources),
            ("workers", self._workers),
        )
        for section, reader in sections:
            try:
                # Materialise each section first: a half-written family is worse than none.
                families = list(reader())
            except Exception:
                logger.exception("metrics: %s unavailable", section)
                errors.add_metric([section], 1.0)
                continue
            errors.add_metric([section], 0.0)
            yield from families
        yield errors

    def _redis_counters(self) -> Iterator[Metric]:
        for name, documentation, labels in REDIS_COUNTERS:
            family = CounterMetricFamily(name, documentation, labels=list(labels))
            for label_values, value in sorted(counter_values(name), key=lambda item: sorted(item[0].items())):
                family.add_metric([str(label_values.get(label, "")) for label in labels], value)
            if not labels and not family.samples:
                family.add_metric([], 0.0)
            yield family

    def _account_health(self) -> Iterator[Metric]:
        from accounts.models import SpotifyAccount

        family = GaugeMetricFamily("account_health", "Active Spotify accounts by health.", labels=["status"])
        counts = dict(
            SpotifyAccount.objects.filter(is_active=True).values_list("health").annotate(n=Count("pk")).values_list("health", "n")
        )
        for status in SpotifyAccount.Health.values:
            family.add_metric([status], float(counts.get(status, 0)))
        yield family
        inactive = GaugeMetricFamily("accounts_inactive", "Deactivated Spotify accounts.")
        inactive.add_metric([], float(SpotifyAccount.objects.filter(is_active=False).count()))
        yield inactive

    def _track_quality(self) -> Iterator[Metric]:
        from metrics.selectors import tracks_quality_latest

        family = GaugeMetricFamily(
            "tracks_quality",
            "Tracks by data-quality tier (good, fair, poor; unscored: not scored yet), as the hourly snapshot counted them.",
            labels=["tier"],
        )
        for tier, count in tracks_quality_latest().counts.items():
            family.add_metric([tier], float(count))
        yield family

    def _job_runs(self) -> Iterator[Metric]:
        from jobs.models import JobRun

        durations = SummaryMetricFamily(
            "job_duration_seconds", "Duration of finished job runs (job history), by job.", labels=["job"]
        )
        for job, n, total_ms in (
            JobRun.objects.filter(duration_ms__isnull=False, finished_at__isnull=False)
            .values_list("job_name")
            .annotate(n=Count("pk"), total=Sum("duration_ms"))
            .values_list("job_name", "n", "total")
            .order_by("job_name")
        ):
            durations.add_metric([job], count_value=int(n), sum_value=float(total_ms or 0) / 1000.0)
        yield durations

    def _alerting(self) -> Iterator[Metric]:
        """Gauges the generated Prometheus rules (alerts/prometheus_rules.py) alert on: each the
        reading its console condition (alerts/conditions.py) takes."""
        from django.db.models import Max

        from accounts.models import SpotifyAccount, reauth_due_soon_q
        from alerts.models import Alert, Severity
        from ingest.models import DeadLetter
        from ingest.selectors import connector_health, ingest_stalled
        from jobs.models import JobRun
        from jobs.selectors import job_failure_streaks, jobs_overview
        from jobs.specs import JOBS
        from metrics.selectors import tracks_quality_latest

        late = GaugeMetricFamily("opsconsole_job_late", "1 when a scheduled job is late (grace period passed).", labels=["job"])
        for row in jobs_overview():
            late.add_metric([row["name"]], 1.0 if row["late"] else 0.0)
        yield late
        last_success = GaugeMetricFamily(
            "opsconsole_job_last_success_timestamp_seconds",
            "When each job last finished successfully (Unix time).",
            labels=["job"],
        )
        for job, finished in (
            JobRun.objects.filter(status=JobRun.Status.SUCCESS, finished_at__isnull=False)
            .values_list("job_name")
            .annotate(last=Max("finished_at"))
            .values_list("job_name", "last")
            .order_by("job_name")
        ):
            last_success.add_metric([job], finished.timestamp())
        yield last_success
        letters = GaugeMetricFamily("opsconsole_dead_letters", "Dead letters by status.", labels=["status"])
        by_status = dict(DeadLetter.objects.values_list("status").annotate(n=Count("pk")).order_by())
        for status in DeadLetter.Status.values:
            letters.add_metric([status], float(by_status.get(status, 0)))
        yield letters
        due = SpotifyAccount.objects.filter(is_active=True).filter(
            reauth_due_soon_q() | Q(health=SpotifyAccount.Health.REAUTH_REQUIRED)
        )
        reauth = GaugeMetricFamily(
            "opsconsole_accounts_reauth_due", "Active accounts needing re-authorization now or within REAUTH_WARNING_DAYS."
        )
        reauth.add_metric([], float(due.count()))
        yield reauth
        alerts = GaugeMetricFamily(
            "opsconsole_alerts_open",
            "Opened, unresolved console alerts by severity (pending ones not counted).",
            labels=["severity"],
        )
        open_counts = dict(Alert.objects.opened().values_list("severity").annotate(n=Count("pk")).order_by())
        for severity in Severity.values:
            alerts.add_metric([severity], float(open_counts.get(severity, 0)))
        yield alerts
        streaks = job_failure_streaks(names=[job.name for job in JOBS])
        failing = GaugeMetricFamily(
            "opsconsole_job_failure_streak", "Failed runs of each scheduled job since its last success.", labels=["job"]
        )
        for job in sorted(spec.name for spec in JOBS):
            failing.add_metric([job], float(streaks[job].failed if job in streaks else 0))
        yield failing
        stalled = GaugeMetricFamily("opsconsole_ingest_stalled", "1 while album ingest is stalled (INGEST_STALLED_MINUTES).")
        stalled.add_metric([], 0.0 if ingest_stalled() is None else 1.0)
        yield stalled
        due_at = GaugeMetricFamily(
            "opsconsole_account_reauth_due_timestamp_seconds",
            "When each active account's authorization ends (Unix time); accounts already needing one are not listed.",
            labels=["account", "name"],
        )
        for account in (
            SpotifyAccount.objects.filter(is_active=True)
            .exclude(health=SpotifyAccount.Health.REAUTH_REQUIRED)
            .only("pk", "display_name", "authorized_at")
            .order_by("authorized_at", "pk")
        ):
            due_at.add_metric([str(account.pk), account.display_name], account.reauth_due_at.timestamp())
        yield due_at
        connectors = GaugeMetricFamily(
            "opsconsole_connector_enabled", "1 while a connector (source operation) is enabled.", labels=["connector"]
        )
        for connector, enabled in sorted(connector_health()[0].items()):
            connectors.add_metric([connector], 1.0 if enabled else 0.0)
        yield connectors
        quality = tracks_quality_latest()
        tracks_scored = GaugeMetricFamily("opsconsole_tracks_scored", "Tracks with a data-quality score (hourly snapshot).")
        tracks_scored.add_metric([], float(quality.scored))
        yield tracks_scored
        score = GaugeMetricFamily(
            "opsconsole_tracks_quality_score_average", "Average data-quality score (0..100) of scored tracks (hourly snapshot)."
        )
        if quality.average is not None:
            score.add_metric([], quality.average)
        yield score

    def _alerting_redis(self) -> Iterator[Metric]:
        import time

        from core.middleware import API_RESPONSES_WINDOW_MINUTES, api_response_rate
        from core.system import worker_memory
        from jobs.beat import beat_status
        from jobs.queues import declared_queues, queue_lengths
        from spotify.breaker import breaker_open_seconds, breaker_states
        from spotify.telemetry import CALLS_WINDOW_MINUTES, telemetry_call_rates

        states = breaker_states()
        circuits = GaugeMetricFamily("opsconsole_circuit_open", "1 while a circuit breaker is not closed.", labels=["breaker"])
        for state in states:
            circuits.add_metric([state["name"]], 0.0 if state["state"] == "closed" else 1.0)
        yield circuits
        wall = time.time()
        open_for = GaugeMetricFamily(
            "opsconsole_circuit_open_seconds",
            "How long each circuit breaker has not been closed (0: closed).",
            labels=["breaker"],
        )
        for state in states:
            open_for.add_metric([state["name"]], breaker_open_seconds(state, at=wall))
        yield open_for
        calls = GaugeMetricFamily(
            "opsconsole_spotify_calls_recent",
            f"Client calls that ended in the last {CALLS_WINDOW_MINUTES} minutes, by source and outcome.",
            labels=["source", "outcome"],
        )
        success = GaugeMetricFamily(
            "opsconsole_spotify_call_success_ratio",
            f"Share of the calls of the last {CALLS_WINDOW_MINUTES} minutes that succeeded (skipped ones count as not).",
            labels=["source"],
        )
        for source, rate in telemetry_call_rates().items():
            for outcome in ("succeeded", "failed", "skipped"):
                calls.add_metric([source, outcome], float(getattr(rate, outcome)))
            if rate.success_ratio is not None:
                success.add_metric([source], rate.success_ratio)
        yield calls
        yield success
        api = api_response_rate()
        responses = GaugeMetricFamily(
            "opsconsole_api_responses_recent",
            f"Responses under /api/ in the last {API_RESPONSES_WINDOW_MINUTES} minutes, by status class.",
            labels=["status_class"],
        )
        for status_class, count in sorted(api.by_class.items()):
            responses.add_metric([status_class], float(count))
        yield responses
        errors = GaugeMetricFamily(
            "opsconsole_api_5xx_ratio",
            f"Share of the responses under /api/ of the last {API_RESPONSES_WINDOW_MINUTES} minutes that were 5xx.",
        )
        if api.error_ratio is not None:
            errors.add_metric([], api.error_ratio)
        yield errors
        workers = GaugeMetricFamily(
            "opsconsole_worker_memory_used_ratio",
            "Each worker's largest pool process (reported after each task) against WORKER_MEMORY_LIMIT_MB.",
            labels=["worker"],
        )
        for usage in worker_memory():
            workers.add_metric([usage.subject.removeprefix("worker:")], usage.ratio)
        yield workers
        queues = GaugeMetricFamily("opsconsole_queue_length", "Messages waiting in each Celery queue.", labels=["queue"])
        for name, size in sorted(queue_lengths(declared_queues()).items()):
            queues.add_metric([name], float(size))
        yield queues
        yield self._login_failures()
        beat = GaugeMetricFamily("opsconsole_beat_up", "1 while Celery beat's heartbeat is fresh.")
        beat.add_metric([], 1.0 if beat_status()["healthy"] else 0.0)
        yield beat

    @staticmethod
    def _login_failures() -> Metric:
        from alerts.conditions import login_failure_windows
        from core.lockout import login_failures_recent

        family = GaugeMetricFamily(
            "opsconsole_login_failures_recent",
            "Failed staff sign-ins (admin passwords, API tokens) in the last `minutes`, by door: "
            "one window per enabled LoginFailureBurst rule.",
            labels=["minutes", "door"],
        )
        for minutes in login_failure_windows():
            for door, count in sorted(login_failures_recent(minutes=minutes).items()):
                family.add_metric([str(minutes), door], float(count))
        return family

    def _resources(self) -> Iterator[Metric]:
        from core.system import database_connections, disk_usages, host_memory

        connections = database_connections()
        used = GaugeMetricFamily("opsconsole_db_connections", "Client connections to the PostgreSQL server.")
        used.add_metric([], connections.used)
        yield used
        maximum = GaugeMetricFamily("opsconsole_db_max_connections", "The PostgreSQL server's max_connections.")
        maximum.add_metric([], connections.limit)
        yield maximum
        connections_ratio = GaugeMetricFamily("opsconsole_db_connections_used_ratio", "Client connections / max_connections.")
        connections_ratio.add_metric([], connections.ratio)
        yield connections_ratio
        disk = GaugeMetricFamily(
            "opsconsole_disk_used_ratio",
            "Used share of the disk of the database's data directory (when local) and of var/, as df's Use%.",
            labels=["subject"],
        )
        for usage in disk_usages():
            disk.add_metric([usage.subject], usage.ratio)
        yield disk
        memory = GaugeMetricFamily(
            "opsconsole_memory_used_ratio", "Memory in use (total - available) of the host this process runs on."
        )
        memory.add_metric([], host_memory().ratio)
        yield memory

    def _workers(self) -> Iterator[Metric]:
        from jobs.heartbeat import workers_alive

        workers = GaugeMetricFamily("opsconsole_workers_up", "Celery workers whose heartbeat has not expired.")
        workers.add_metric([], float(len(workers_alive())))
        yield workers


def metrics_registry() -> CollectorRegistry:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(OpsCollector())
    return registry


@never_cache
@require_GET
def metrics_view(request: HttpRequest) -> HttpResponse:
    if not telemetry_allowed(request):
        return HttpResponse("Forbidden: staff or an allowlisted address only.\n", status=403, content_type="text/plain")
    return HttpResponse(generate_latest(metrics_registry()), content_type=CONTENT_TYPE_LATEST)
