"""/health, /api/health, /ready, /live. Anonymous callers learn only the status."""

from __future__ import annotations

from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.http import HttpRequest, JsonResponse
from django.views.decorators.http import require_GET

from opsconsole.redis import get_redis


@require_GET
def live_view(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"status": "ok"})


@require_GET
def health_view(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"status": "ok"})


@require_GET
def ready_view(request: HttpRequest) -> JsonResponse:
    reasons: list[str] = []
    try:
        connection.ensure_connection()
        executor = MigrationExecutor(connection)
        if executor.migration_plan(executor.loader.graph.leaf_nodes()):
            reasons.append("migrations_pending")
    except Exception as exc:
        reasons.append(f"database_unreachable: {type(exc).__name__}")
    try:
        get_redis().ping()
    except Exception as exc:
        reasons.append(f"redis_unreachable: {type(exc).__name__}")
    if reasons:
        return JsonResponse({"status": "not_ready", "reasons": reasons}, status=503)
    return JsonResponse({"status": "ready"})
