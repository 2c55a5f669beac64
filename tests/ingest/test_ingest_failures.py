"""Transient failures, crashed workers and concurrent workers: no source lost, none done twice."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from django.db import connection
from django.utils import timezone

from accounts.services import app_get_or_create_default
from devstack.emulator import SpotifyEmulator
from ingest.models import AlbumSource, DeadLetter, Track
from ingest.services import ingest_albums_from_sources
from ingest.services.albums import _claim_sources
from spotify.breaker import breaker_failure, breaker_state
from spotify.ratelimit import bucket_clear_block
from spotify.telemetry import ingestion_issues
from tests.fixtures_catalog import extra_track_pages, track_count


def _let_time_pass() -> None:
    """What the parked sources wait for: their not_before and the app's Retry-After block."""
    AlbumSource.objects.filter(status="queued").update(not_before=timezone.now() - timedelta(seconds=1))
    bucket_clear_block("app", str(app_get_or_create_default().pk))


def _drain(max_runs: int = 40) -> list[dict]:
    summaries = []
    for _ in range(max_runs):
        _let_time_pass()
        summaries.append(ingest_albums_from_sources())
        if not AlbumSource.objects.filter(status__in=["queued", "processing"]).exists():
            return summaries
    raise AssertionError(f"sources still pending after {max_runs} runs")


def _assert_none_lost(album_ids: list[str]) -> tuple[int, int]:
    sources = {s.spotify_album_id: s for s in AlbumSource.objects.all()}
    assert set(sources) == set(album_ids)
    dead = {
        letter.payload["spotify_album_id"] for letter in DeadLetter.objects.filter(status="pending", operation="ingest_album")
    }
    done = {a for a, s in sources.items() if s.status == "done"}
    failed = {a for a, s in sources.items() if s.status == "failed"}
    assert done | failed == set(album_ids), "every source ends done or failed"
    assert failed == dead, "every failed source is dead-lettered (and nothing else is)"
    for album_id in failed:
        assert "dead-lettered" in sources[album_id].last_error
    return len(done), len(failed)


@pytest.mark.django_db
def test_a_429_storm_ends_with_every_source_done_or_dead_lettered(
    spotify_emulator: SpotifyEmulator, queue_albums: Callable[[list[str]], list[str]], settings
) -> None:
    settings.INGEST_MAX_ATTEMPTS = 2
    album_ids = queue_albums(spotify_emulator.catalog.album_ids()[:60])
    # Retry-After beyond the sleep ceiling: the client gives up at once and the job parks.
    spotify_emulator.fault("albums", status=429, retry_after=30, times=3)
    first = ingest_albums_from_sources()
    assert first["stopped_by"] == "api_rate_limit" and first["retry_after"] >= 30
    assert first["parked"] == 40, "the batches not tried yet wait without spending an attempt"
    parked = AlbumSource.objects.get(spotify_album_id=album_ids[-1])
    assert parked.status == "queued" and parked.attempts == 0 and parked.not_before > timezone.now()
    _drain()
    done, failed = _assert_none_lost(album_ids)
    assert failed == 20 and done == 40
    assert Track.objects.count() == track_count(spotify_emulator, album_ids[20:])


@pytest.mark.django_db
def test_a_5xx_burst_ends_with_every_source_done_or_dead_lettered(
    spotify_emulator: SpotifyEmulator, queue_albums: Callable[[list[str]], list[str]], settings
) -> None:
    settings.INGEST_MAX_ATTEMPTS = 2
    settings.BREAKER_FAILURE_THRESHOLD = 100
    album_ids = queue_albums(spotify_emulator.catalog.album_ids()[:40])
    # Three calls' worth of client retries fail: both batches once, then the first again.
    spotify_emulator.fault("albums", status=503, times=settings.SPOTIFY_MAX_ATTEMPTS * 3)
    first = ingest_albums_from_sources()
    assert first["requeued"] == 40 and first["albums_done"] == 0
    _drain()
    done, failed = _assert_none_lost(album_ids)
    assert (done, failed) == (20, 20)
    letter = DeadLetter.objects.filter(operation="ingest_album").first()
    assert letter.error_type == "server_error" and letter.retry_count == 2


@pytest.mark.django_db
def test_an_open_circuit_parks_the_work_without_calling_and_records_the_issue(
    spotify_emulator: SpotifyEmulator, queue_albums: Callable[[list[str]], list[str]], settings
) -> None:
    queue_albums(spotify_emulator.catalog.album_ids()[:30])
    for _ in range(settings.BREAKER_FAILURE_THRESHOLD):
        breaker_failure("spotify.albums", error="albums: HTTP 503")
    assert breaker_state("spotify.albums")["state"] == "open"
    summary = ingest_albums_from_sources()
    assert spotify_emulator.count("albums") == 0
    assert summary["stopped_by"] == "circuit_breaker_open" and summary["retry_after"] > 0
    assert AlbumSource.objects.filter(status="queued", not_before__gt=timezone.now()).count() == 30
    assert AlbumSource.objects.filter(attempts=1).count() == 20, "only the batch that met the open circuit spent an attempt"
    issues = ingestion_issues()
    assert any(i["reason"] == "circuit_open" and i["source"] == "spotify" and i["operation"] == "albums" for i in issues)
    assert any(i["source"] == "ingest" and i["operation"] == "albums" and "circuit_breaker_open" in i["error"] for i in issues)


@pytest.mark.django_db
def test_a_source_left_processing_by_a_dead_worker_is_claimed_again_once_stale(
    spotify_emulator: SpotifyEmulator, queue_albums: Callable[[list[str]], list[str]], settings
) -> None:
    queue_albums(spotify_emulator.catalog.album_ids()[:3])
    claimed = _claim_sources(batch_size=10, now=timezone.now())  # ...and then the worker died
    assert len(claimed) == 3
    assert ingest_albums_from_sources()["claimed"] == 0, "a fresh claim belongs to its worker"
    AlbumSource.objects.update(claimed_at=timezone.now() - timedelta(minutes=settings.INGEST_CLAIM_STALE_MINUTES + 1))
    summary = ingest_albums_from_sources()
    assert summary["albums_done"] == 3
    assert list(AlbumSource.objects.values_list("attempts", flat=True)) == [1, 1, 1]


@pytest.mark.django_db
def test_a_source_whose_workers_keep_dying_is_dead_lettered(
    spotify_emulator: SpotifyEmulator, queue_albums: Callable[[list[str]], list[str]], settings
) -> None:
    settings.INGEST_MAX_ATTEMPTS = 2
    queue_albums(spotify_emulator.catalog.album_ids()[:1])
    AlbumSource.objects.update(
        status="processing", attempts=1, claimed_at=timezone.now() - timedelta(minutes=settings.INGEST_CLAIM_STALE_MINUTES + 1)
    )
    summary = ingest_albums_from_sources()
    assert summary["dead_lettered"] == 1 and spotify_emulator.count("albums") == 0
    assert DeadLetter.objects.get().error_type == "worker_lost"


@pytest.mark.django_db(transaction=True)
def test_two_workers_claiming_at_once_never_process_a_source_twice(
    spotify_emulator: SpotifyEmulator, queue_albums: Callable[[list[str]], list[str]], extended_app: Any
) -> None:
    album_ids = queue_albums(spotify_emulator.catalog.album_ids()[:60])
    # Slow answers keep both workers inside their batches at the same time.
    spotify_emulator.fault("albums", status=None, latency=0.2, times=3)
    barrier = threading.Barrier(2)
    summaries: list[dict] = []
    errors: list[BaseException] = []

    def worker() -> None:
        try:
            barrier.wait()
            summaries.append(ingest_albums_from_sources(batch_size=20))
        except BaseException as exc:  # surfaced below: a thread's exception is otherwise lost
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors, errors
    assert sum(s["claimed"] for s in summaries) == 60
    assert all(s["claimed"] > 0 for s in summaries), "both workers took part"
    assert spotify_emulator.count("albums") == 3, "each album fetched once"
    assert spotify_emulator.count("album_tracks") == extra_track_pages(spotify_emulator, album_ids)
    assert set(AlbumSource.objects.values_list("status", flat=True)) == {"done"}
    assert Track.objects.count() == track_count(spotify_emulator, album_ids)
