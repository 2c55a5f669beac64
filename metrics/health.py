"""/health, /api/health, /ready, /live.

Anonymous callers learn only `{"status": "ok" | "degraded"}`. Staff (session or token) and
callers whose IP is in HEALTH_ALLOWLIST also get the component checks, the workers alive
(hostname, queues, heartbeat age), ingestion telemetry (circuits, last errors), late
jobs and the kill switch (engaged: `degraded`). The component checks are django-health-check checks, listed explicitly (its 4.x
default list probes mail and DNS, which this console does not depend on), run in the
request's thread on the process's pooled connections. HTTP 503 is kept for "this instance cannot serve" (database or Redis
down); a missing worker, beat or an open circuit is `degraded` with 200 so that a load
balancer does not pull a web node for a problem the web node cannot fix.

Every request computes the report: workers are known by the heartbeats they keep in Redis
(jobs.heartbeat), so no check waits on a Celery ping and there is nothing worth caching.
"""

from __future__ import annotations

import dataclasses
import logging
import time
import uuid
from typing import Any, cast

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.core.cache import cache
from django.db import DEFAULT_DB_ALIAS, DatabaseError, connections
from django.db.migrations.executor import MigrationExecutor
from django.http import HttpRequest, JsonResponse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET
from health_check.base import HealthCheck, HealthCheckResult
from health_check.checks import Database
from health_check.exceptions import HealthCheckException, ServiceUnavailable
from redis.exceptions import RedisError
from rest_framework.exceptions import APIException

from core.authentication import TokenOrBearerAuthentication
from core.client_ip import ip_allowlisted
from core.redis import get_redis
from jobs.beat import beat_status
from jobs.control import kill_switch_state
from jobs.heartbeat import WorkerPulse, workers_alive

logger = logging.getLogger(__name__)

# Without these the instance cannot serve at all: 503.
CRITICAL_CHECKS = ("database", "redis")


# --- who may see telemetry ---------------------------------------------------------------


def request_user(request: HttpRequest) -> AbstractBaseUser | AnonymousUser:
    """The session user, else the user of a valid `Token`/`Bearer` header, else anonymous."""
    user = getattr(request, "user", None)
    if user is not None and user.is_authenticated:
        return user
    try:
        result = TokenOrBearerAuthentication().authenticate(request)  # type: ignore[arg-type]
    except APIException:  # a wrong, revoked or expired token: anonymous here
        return AnonymousUser()
    return result[0] if result else AnonymousUser()


def is_staff(user: Any) -> bool:
    return bool(user and user.is_authenticated and user.is_active and user.is_staff)


def telemetry_allowed(request: HttpRequest) -> bool:
    """Staff by session or token, or a client IP in HEALTH_ALLOWLIST (XFF only via TRUSTED_PROXIES)."""
    if ip_allowlisted(request):
        return True
    try:
        return is_staff(request_user(request))
    except DatabaseError:
        # Sessions and tokens live in the database: while it is down only the allowlist works,
        # and the probe still gets its 503 instead of a 500.
        return False


# --- component checks --------------------------------------------------------------------


@dataclasses.dataclass
class RedisPing(HealthCheck):
    """Redis (REDIS_URL) answers a PING on the process's pooled connection."""

    def run(self) -> None:
        try:
            get_redis().ping()
        except RedisError as exc:
            raise ServiceUnavailable(f"Redis unreachable: {type(exc).__name__}") from exc


@dataclasses.dataclass
class CacheRoundTrip(HealthCheck):
    """The default Django cache stores and returns a value (django-health-check's Cache is async only)."""

    def run(self) -> None:
        probe = f"health:{uuid.uuid4().hex}"
        try:
            cache.set(probe, "ok", timeout=5)
            matches = cache.get(probe) == "ok"
        except RedisError as exc:
            raise ServiceUnavailable(f"cache unreachable: {type(exc).__name__}") from exc
        if not matches:
            raise ServiceUnavailable("cache returned another value")


@dataclasses.dataclass
class BrokerPing(HealthCheck):
    """The Celery broker (Redis at CELERY_BROKER_URL, often REDIS_URL itself) answers a PING."""

    def run(self) -> None:
        try:
            get_redis(settings.CELERY_BROKER_URL).ping()
        except RedisError as exc:
            raise ServiceUnavailable(f"broker unreachable: {type(exc).__name__}") from exc


@dataclasses.dataclass
class BeatScheduler(HealthCheck):
    """Exactly one beat must be ticking: its heartbeat in Redis is fresh."""

    def run(self) -> None:
        try:
            status = beat_status()
        except (RedisError, DatabaseError) as exc:
            raise ServiceUnavailable(f"beat status unreadable: {type(exc).__name__}") from exc
        if not status["healthy"]:
            tick = status["last_beat_tick"]
            raise ServiceUnavailable(f"no beat tick since {tick.isoformat() if tick else 'ever'}")


@dataclasses.dataclass
class WorkerHeartbeats(HealthCheck):
    """At least one Celery worker's heartbeat has not expired (jobs.heartbeat); keeps what it read."""

    alive: list[WorkerPulse] = dataclasses.field(default_factory=list, repr=False)

    def run(self) -> None:
        try:
            self.alive = workers_alive()
        except RedisError as exc:
            raise ServiceUnavailable(f"heartbeats unreadable: {type(exc).__name__}") from exc
        if not self.alive:
            raise ServiceUnavailable("no worker heartbeat")


def component_checks() -> dict[str, HealthCheck]:
    return {
        "database": Database(alias=DEFAULT_DB_ALIAS),
        "redis": RedisPing(),
        "cache": CacheRoundTrip(),
        "broker": BrokerPing(),
        # Heartbeats, not a ping: a ping waits its whole timeout for the workers that are gone.
        "workers": WorkerHeartbeats(),
        "scheduler": BeatScheduler(),
    }


# Read from REDIS_URL: not asked once Redis has not answered its own PING, so that an
# unreachable Redis costs one connect timeout, not one per check.
NEEDS_REDIS = ("cache", "workers", "scheduler")


def run_component_checks(checks: dict[str, HealthCheck]) -> dict[str, HealthCheckResult]:
    """Each check's `run()` in this thread, one after the other.

    Each is one round trip on a connection the process already holds (the request's database
    connection, the Redis pools), a fraction of a millisecond. django-health-check's own
    runner awaits them in parallel through a fresh event loop and executor threads, each
    thread with a database connection of its own: bench, that was most of /health's cost.
    """
    results: dict[str, HealthCheckResult] = {}
    for name, check in checks.items():
        started = time.perf_counter()
        redis_result = results.get("redis")
        error: HealthCheckException | None = None
        if name in NEEDS_REDIS and redis_result is not None and redis_result.error is not None:
            error = ServiceUnavailable("not checked: Redis unreachable")
        else:
            try:
                check.run()
            except HealthCheckException as exc:
                error = exc
            except Exception:
                logger.exception("health check %s failed unexpectedly", name)
                error = HealthCheckException("unknown error")
        results[name] = HealthCheckResult(check=check, error=error, time_taken=time.perf_counter() - started)
    return results


# --- ingestion and jobs --------------------------------------------------------------------


def ingestion_report() -> dict[str, Any]:
    """Circuits per source and the issues list from the Spotify client's telemetry."""
    try:
        from spotify.breaker import breaker_states
        from spotify.telemetry import ingestion_issues, telemetry_snapshot
    except ImportError:
        return {"issues": [], "sources": {}, "telemetry": "unavailable"}
    breakers, snapshot = breaker_states(), telemetry_snapshot()
    sources: dict[str, dict[str, Any]] = {}
    for state in breakers:
        sources[state["name"]] = {
            "circuit": state["state"],
            "cooldown_remaining_s": round(float(state.get("remaining_cooldown") or 0), 1),
            "failure_streak": state.get("failure_streak", 0),
            "opened_count": state.get("opened_count", 0),
            "open_until": state.get("open_until"),
        }
    for name, counters in snapshot.items():
        entry = sources.setdefault(name, {"circuit": "closed", "cooldown_remaining_s": 0.0})
        entry.update(
            {
                k: counters.get(k)
                for k in ("started", "succeeded", "failed", "skipped", "last_latency_ms", "last_error", "last_error_at")
            }
        )
    issues = [
        {
            "source": issue.get("source", ""),
            "operation": issue.get("operation"),
            "reason": issue.get("reason", ""),
            "last_error": issue.get("error", issue.get("last_error", "")) or "",
            **({"remaining_cooldown": issue["remaining_cooldown"]} if "remaining_cooldown" in issue else {}),
        }
        for issue in ingestion_issues(breakers=breakers, snapshot=snapshot)
    ]
    _add_ingest_state(sources=sources, issues=issues)
    return {"issues": issues, "sources": sources}


def _add_ingest_state(*, sources: dict[str, dict[str, Any]], issues: list[dict[str, Any]]) -> None:
    """Connector settings (a disabled operation is an issue) and a stalled ingest queue."""
    from ingest.selectors import connector_health, ingest_stalled

    enabled, disabled = connector_health()
    for name, on in enabled.items():
        sources.setdefault(name, {"circuit": "closed", "cooldown_remaining_s": 0.0})["enabled"] = on
    issues.extend({**issue, "last_error": ""} for issue in disabled)
    stalled = ingest_stalled()
    if stalled:
        issues.append({**stalled, "operation": "albums", "last_error": ""})


def late_jobs() -> list[dict[str, Any]]:
    try:
        from jobs.selectors import jobs_late
    except ImportError:
        return []
    return jobs_late()


def alerts_report() -> dict[str, Any]:
    """Unresolved alerts by severity, and channels failing longer than a rule interval (README "Alerts")."""
    from django.db.models import Count

    from alerts.models import Alert
    from alerts.services import channels_failing

    counts = Alert.objects.opened().values_list("severity").annotate(n=Count("pk"))
    return {"open": {severity: n for severity, n in counts.order_by()}, "failing_channels": channels_failing()}


def kill_switch_json() -> dict[str, Any]:
    """The kill switch (jobs.control): while engaged no work runs, so health is `degraded`."""
    state = kill_switch_state()
    return {name: value.isoformat() if hasattr(value, "isoformat") else value for name, value in state.items()}


# --- the report ------------------------------------------------------------------------------


def _check_json(result: HealthCheckResult) -> dict[str, Any]:
    return {
        "status": "ok" if result.error is None else "error",
        "detail": str(result.error) if result.error is not None else "",
        "seconds": round(result.time_taken, 3),
    }


def health_report() -> tuple[dict[str, Any], int]:
    """(payload, http_status) of the full report; callers decide how much of it to show.

    Computed on every request: each check is a query or a Redis round trip (BENCHMARKS.md
    "Health from heartbeats, no token cache"), so there is no report to cache.
    """
    components = component_checks()
    results = run_component_checks(components)
    checks = {name: _check_json(result) for name, result in results.items()}
    critical_down = any(results[name].error is not None for name in CRITICAL_CHECKS)
    now = timezone.now()
    alive = cast(WorkerHeartbeats, components["workers"]).alive
    payload: dict[str, Any] = {
        "checks": checks,
        "workers": [{"hostname": w.hostname, "queues": w.queues, "age_s": w.age_s(now)} for w in alive],
        "checked_at": now.isoformat(),
    }
    problems = [name for name, check in checks.items() if check["status"] != "ok"]
    if critical_down:
        # Telemetry lives in Redis and late jobs in the database: do not ask either.
        payload["ingestion"] = {"issues": [], "sources": {}, "telemetry": "unavailable"}
        payload["jobs"] = {"late": []}
        payload["alerts"] = {"open": {}, "failing_channels": []}
        payload["kill_switch"] = {"engaged": None, "error": "unavailable"}
    else:
        try:
            payload["ingestion"] = ingestion_report()
        except Exception as exc:
            logger.exception("ingestion telemetry failed")
            payload["ingestion"] = {"issues": [], "sources": {}, "telemetry": f"error: {type(exc).__name__}"}
            problems.append("ingestion_telemetry")
        try:
            payload["jobs"] = {"late": late_jobs()}
        except Exception as exc:
            logger.exception("late jobs failed")
            payload["jobs"] = {"late": [], "error": type(exc).__name__}
            problems.append("jobs")
        try:
            payload["alerts"] = alerts_report()
        except Exception as exc:
            logger.exception("alerts report failed")
            payload["alerts"] = {"open": {}, "failing_channels": [], "error": type(exc).__name__}
        try:
            payload["kill_switch"] = kill_switch_json()
        except Exception as exc:
            logger.exception("kill switch state failed")
            payload["kill_switch"] = {"engaged": None, "error": type(exc).__name__}
        if payload["kill_switch"]["engaged"]:
            problems.append("kill_switch")
        if payload["alerts"]["failing_channels"]:
            problems.append("alert_channels")
        if payload["ingestion"]["issues"]:
            problems.append("ingestion")
        if payload["jobs"]["late"]:
            problems.append("late_jobs")
    payload = {"status": "degraded" if problems else "ok", "problems": problems, **payload}
    _log_change(problems, checks)
    return payload, 503 if critical_down else 200


_last_problems: list[str] | None = None


def _log_change(problems: list[str], checks: dict[str, dict[str, Any]]) -> None:
    """One line when this process's view changes, not one per probe: probes come every few seconds."""
    global _last_problems
    if problems == _last_problems:
        return
    _last_problems = problems
    if problems:
        details = {name: check["detail"] for name, check in checks.items() if check["status"] != "ok"}
        logger.warning("health degraded: %s", ", ".join(problems), extra={"problems": problems, "failed_checks": details})
    else:
        logger.info("health ok")


@never_cache
@require_GET
def health_view(request: HttpRequest) -> JsonResponse:
    payload, status = health_report()
    if not telemetry_allowed(request):
        return JsonResponse({"status": payload["status"]}, status=status)
    return JsonResponse(payload, status=status, json_dumps_params={"default": str})


@never_cache
@require_GET
def live_view(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"status": "ok"})


@never_cache
@require_GET
def ready_view(request: HttpRequest) -> JsonResponse:
    reasons: list[str] = []
    try:
        connection = connections[DEFAULT_DB_ALIAS]
        connection.ensure_connection()
        executor = MigrationExecutor(connection)
        pending = executor.migration_plan(executor.loader.graph.leaf_nodes())
        if pending:
            reasons.append(f"migrations_pending: {len(pending)}")
    except Exception as exc:
        reasons.append(f"database_unreachable: {type(exc).__name__}")
    try:
        get_redis().ping()
    except Exception as exc:
        reasons.append(f"redis_unreachable: {type(exc).__name__}")
    if reasons:
        return JsonResponse({"status": "not_ready", "reasons": reasons}, status=503)
    return JsonResponse({"status": "ready"})
