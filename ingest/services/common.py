"""Shared by the ingest services: chunking, the error vocabulary, job telemetry, the catalog app and client."""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, TypeVar

from accounts.models import SpotifyApp
from core.redis import key
from spotify.errors import (
    CircuitOpen,
    SpotifyAuthError,
    SpotifyBadRequest,
    SpotifyForbidden,
    SpotifyNotFound,
    SpotifyRateLimited,
    SpotifyServerError,
)
from spotify.telemetry import Outcome, telemetry_record

if TYPE_CHECKING:
    from spotify.client import SpotifyClient

logger = logging.getLogger(__name__)

OP_INGEST_ALBUM = "ingest_album"
OP_AUDIO_FEATURES = "fetch_audio_features"

T = TypeVar("T")


def chunks(items: Sequence[T], size: int) -> Iterator[Sequence[T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def error_type_of(exc: BaseException) -> str:
    """The dead-letter error vocabulary `dlq/stats` and `dlq/errors/grouped` group by (docs/runbooks/dead-letters-circuit-breakers.md)."""
    if isinstance(exc, CircuitOpen):
        return "circuit_breaker_open"
    if isinstance(exc, SpotifyRateLimited):
        return "api_rate_limit"
    if isinstance(exc, SpotifyServerError):
        return "server_error"
    if isinstance(exc, SpotifyAuthError):
        return "auth_error"
    if isinstance(exc, SpotifyForbidden):
        return "forbidden"
    if isinstance(exc, SpotifyNotFound):
        return "not_found"
    if isinstance(exc, SpotifyBadRequest):
        return "invalid_data"
    return type(exc).__name__


def job_telemetry(*, operation: str, outcome: Outcome, latency_ms: float | None = None, error: str = "") -> None:
    """Job-level telemetry under source "ingest": what /health lists as ingestion issues."""
    telemetry_record(source="ingest", operation=operation, outcome=outcome, latency_ms=latency_ms, error=error)


# --- Spotify app and client ------------------------------------------------------------


def catalog_app() -> SpotifyApp:
    from accounts.services import app_get_or_create_default

    return app_get_or_create_default()


def catalog_app_for_preview() -> SpotifyApp:
    """What catalog_app gives, without creating it (a dry run writes nothing)."""
    from django.conf import settings

    found = SpotifyApp.objects.filter(client_id=settings.SPOTIFY_CLIENT_ID).first()
    return found or SpotifyApp(client_id=settings.SPOTIFY_CLIENT_ID, name="default")


def catalog_client(app: SpotifyApp) -> SpotifyClient:
    from accounts.services import spotify_client_for_catalog

    return spotify_client_for_catalog(app)


def capability_learned(*, app: SpotifyApp, capability: str, allowed: bool) -> None:
    from accounts.services import app_record_capability

    app_record_capability(app=app, capability=capability, allowed=allowed)


def persist_learned(*, client: SpotifyClient, app: SpotifyApp) -> None:
    """The client falls back by itself on the endpoint's own 403 (e.g. single-album calls); keep
    the lesson (and when it was learned: refusals are rechecked) on the app so the next run does
    not spend a call learning it again."""
    for capability, allowed in getattr(client, "learned", {}).items():
        capability_learned(app=app, capability=capability, allowed=allowed)


def app_health_record(*, app: SpotifyApp, degraded: bool, reason: str = "") -> None:
    from accounts.services import app_set_health

    app_set_health(app=app, degraded=degraded, reason=reason)


def features_denied_key(app: SpotifyApp) -> str:
    return key("ingest", "audio-features-denied", app.pk)
