"""Thin Celery tasks over ingest.services; names are the job names beat schedules."""

from __future__ import annotations

from typing import Any

from celery import Task, shared_task
from django.db import InterfaceError, OperationalError, close_old_connections

from ingest import services
from jobs.countdown import countdown_capped
from jobs.models import JobRun
from jobs.services import job_enqueue
from spotify.errors import SpotifyRateLimited

# A run parked by a 429 or an open circuit comes back when Spotify said to (countdown).
MAX_PARKED_RETRIES = 20
# Redis redelivers a countdown task still unacked after visibility_timeout; the parked rows'
# not_before keeps the real schedule, so an early comeback just finds nothing due yet.
MAX_COUNTDOWN_SECONDS = 1800
# A dropped database connection (failover, restart, pg_terminate_backend) is transient: the
# retry runs under the same task id, so it takes back the sources this run had claimed.
DB_RETRY_SECONDS = 5
DB_MAX_RETRIES = 3


def _countdown(seconds: float) -> float:
    return countdown_capped(min(float(seconds), MAX_COUNTDOWN_SECONDS))


def _continue_or_retry(task: Task, summary: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
    if summary.get("retry_after"):
        raise task.retry(countdown=_countdown(summary["retry_after"]), kwargs=kwargs, max_retries=MAX_PARKED_RETRIES)
    if summary.get("more"):
        # Out of time budget with work left: a fresh run, so no worker holds a task past its limits.
        job_enqueue(task.name, trigger=JobRun.Trigger.CHAIN, triggered_by=task.name, kwargs=kwargs)
    return summary


@shared_task(name="ingest_albums_from_sources", bind=True, acks_late=True, expires=3600)
def ingest_albums_from_sources(self: Task, batch_size: int | None = None) -> dict[str, Any]:
    try:
        summary = services.ingest_albums_from_sources(batch_size=batch_size, claim_owner=self.request.id)
    except SpotifyRateLimited as exc:
        # Token endpoint 429 before any source was claimed.
        raise self.retry(countdown=_countdown(exc.retry_after), exc=exc, max_retries=MAX_PARKED_RETRIES) from exc
    except (OperationalError, InterfaceError) as exc:
        close_old_connections()  # drop the dead connection so the JobRun update and the retry reconnect
        raise self.retry(countdown=DB_RETRY_SECONDS, exc=exc, max_retries=DB_MAX_RETRIES) from exc
    return _continue_or_retry(self, summary, batch_size=batch_size)


@shared_task(name="fetch_audio_features", bind=True, acks_late=True, expires=3600)
def fetch_audio_features(self: Task, batch_size: int | None = None) -> dict[str, Any]:
    try:
        summary = services.audio_features_fetch(batch_size=batch_size)
    except SpotifyRateLimited as exc:
        raise self.retry(countdown=_countdown(exc.retry_after), exc=exc, max_retries=MAX_PARKED_RETRIES) from exc
    return _continue_or_retry(self, summary, batch_size=batch_size)


@shared_task(name="replay_dead_letters", bind=True, acks_late=True, expires=3600)
def replay_dead_letters(self: Task, batch_size: int = 100, actor: str = "task") -> dict[str, Any]:
    return services.dead_letters_replay(batch_size=batch_size, actor=actor)
