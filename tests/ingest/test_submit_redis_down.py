"""Album links sent while Redis restarts are stored and queued: a count is lost, never the links.

Found by the chaos soak: `POST /api/v1/ingest/albums` answered 500 while Redis restarted (the
submitted-links counter, incremented inside the submit's transaction, raised) and stored nothing.
The queue is the AlbumSource table in PostgreSQL, so the submit needs no Redis; here a private
Redis (the store, the cache and the broker) is really down during the request.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import User

from audit.models import AuditEvent
from devstack.emulator import SpotifyEmulator
from ingest.models import AlbumSource, DeadLetter
from ingest.services import dead_letter_record, ingest_albums_from_sources
from opsconsole.celery import app as celery_app
from tests.drills.test_redis_restarted import PrivateRedis, _use_broker
from tests.fixtures_clients import token_client

pytestmark = pytest.mark.django_db


@pytest.fixture
def redis_server(settings: Any) -> Iterator[PrivateRedis]:
    """A private Redis as REDIS_URL, the cache and the broker: stopping it is Redis down for every use."""
    saved_broker = celery_app.conf.broker_url
    with tempfile.TemporaryDirectory(prefix="submit-redis-") as workdir:
        server = PrivateRedis(Path(workdir))
        server.start()
        settings.REDIS_URL = server.url
        settings.CACHES = {"default": {**settings.CACHES["default"], "LOCATION": server.url}}
        _use_broker(server.url)
        try:
            yield server
        finally:
            _use_broker(saved_broker)
            server.stop()


def test_links_sent_while_redis_is_down_are_stored_queued_and_ingested_once_it_is_back(
    redis_server: PrivateRedis, operator: User, spotify_emulator: SpotifyEmulator, caplog: Any
) -> None:
    album_ids = spotify_emulator.catalog.album_ids()[:2]
    api = token_client(operator)
    api.raise_request_exception = False
    urls = [f"https://open.spotify.com/album/{album_ids[0]}", f"spotify:album:{album_ids[1]}", "not a link"]

    redis_server.stop()
    response = api.post("/api/v1/ingest/albums", {"urls": urls}, content_type="application/json")

    assert response.status_code == 207, response.content
    assert response.json()["counts"] == {"accepted": 2, "duplicate": 0, "invalid": 1}
    assert sorted(AlbumSource.objects.values_list("status", flat=True)) == ["invalid", "queued", "queued"]
    assert any("ingest_sources_submitted_total" in r.getMessage() for r in caplog.records if r.levelname == "WARNING")

    redis_server.start()
    again = api.post("/api/v1/ingest/albums", {"urls": urls[:2]}, content_type="application/json")
    assert again.status_code == 200, again.content  # the client's retry doubles nothing
    assert ingest_albums_from_sources()["albums_done"] == 2
    assert set(AlbumSource.objects.filter(status="done").values_list("spotify_album_id", flat=True)) == set(album_ids)


def test_a_dead_letter_replay_while_redis_is_down_is_done_and_audited_not_answered_500(
    redis_server: PrivateRedis, operator: User, django_capture_on_commit_callbacks: Any
) -> None:
    """The same counter, after the replay's commit: the letters were replayed, yet the answer was a
    500 and the audit row was never written. (The ingest run it queues after commit needs the
    broker: on this same Redis its publish waits, then answers 503; jobs.services.job_enqueue_many.)"""
    source = AlbumSource.objects.create(raw_input="x", spotify_album_id="4aawyAB9vmqN3uQ7FjRGTy", status="failed")
    letter = dead_letter_record(
        source_service="spotify.albums",
        operation="ingest_album",
        error_type="server_error",
        error_message="HTTP 500",
        payload={"album_source_id": source.pk},
    )
    api = token_client(operator)
    api.raise_request_exception = False

    redis_server.stop()
    with django_capture_on_commit_callbacks() as callbacks:
        response = api.post("/api/v1/dlq/replay/batch", {"batch_size": 10}, content_type="application/json")

    assert response.status_code == 200, response.content
    assert response.json() == {"replayed_count": 1, "failed_count": 0, "errors": []}
    assert DeadLetter.objects.get(pk=letter.pk).status == DeadLetter.Status.REPLAYED
    assert AlbumSource.objects.get(pk=source.pk).status == AlbumSource.Status.QUEUED
    assert AuditEvent.objects.filter(action="dead_letters.replay", actor="api:olive").count() == 1
    assert len(callbacks) == 1  # the ingest run, queued after commit


def test_an_api_read_that_needs_redis_while_it_is_down_answers_503_json_with_retry_after(
    redis_server: PrivateRedis, operator: User
) -> None:
    """Found by the chaos soak: a queue's resume during a Redis restart answered Django's HTML 500.
    Every /api/ door that meets a store away answers the API's JSON error, 503 with Retry-After."""
    api = token_client(operator)
    api.raise_request_exception = False
    assert api.get("/api/v1/circuit-breakers").status_code == 200

    redis_server.stop()
    response = api.get("/api/v1/circuit-breakers")

    assert response.status_code == 503, response.content
    assert response["Content-Type"].startswith("application/json")
    assert response["Retry-After"].isdigit()
    assert "send the same request again" in response.json()["detail"]
