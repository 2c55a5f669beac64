"""Dead letters: recording, the DLQ API shapes (docs/runbooks/dead-letters-circuit-breakers.md), replay (idempotent) and purge."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.utils import timezone

from devstack.emulator import SpotifyEmulator
from ingest.models import AlbumSource, DeadLetter
from ingest.services import dead_letter_record, dead_letters_replay, ingest_albums_from_sources
from spotify.breaker import breaker_failure, breaker_state

pytestmark = pytest.mark.django_db


def _letter(
    error_type: str = "server_error", payload: dict | None = None, service: str = "spotify.albums", **kwargs
) -> DeadLetter:
    return dead_letter_record(
        source_service=service,
        operation=kwargs.pop("operation", "fetch_audio_features"),
        error_type=error_type,
        error_message=kwargs.pop("message", f"{error_type} happened"),
        payload=payload or {"n": 1},
        retry_count=6,
        **kwargs,
    )


def test_the_same_failure_twice_is_one_letter_with_two_occurrences() -> None:
    first = _letter(payload={"track_ids": ["a"]})
    second = _letter(payload={"track_ids": ["a"]}, message="again")
    assert first.pk == second.pk
    letter = DeadLetter.objects.get()
    assert letter.occurrences == 2 and letter.error_message == "again"
    _letter(payload={"track_ids": ["b"]})
    assert DeadLetter.objects.count() == 2


def test_stats_grouped_and_messages_have_the_documented_shapes(client: Client, viewer: User) -> None:
    old = _letter("circuit_breaker_open", {"n": 1})
    DeadLetter.objects.filter(pk=old.pk).update(
        first_seen=timezone.now() - timedelta(hours=2), last_seen=timezone.now() - timedelta(hours=2)
    )
    _letter("circuit_breaker_open", {"n": 2})
    _letter("api_rate_limit", {"n": 3}, service="spotify.audio_features")
    client.force_login(viewer)

    stats = client.get("/api/v1/dlq/stats").json()
    assert stats["total_messages"] == 3
    assert 119 <= stats["oldest_message_age_minutes"] <= 121
    assert stats["error_rate_per_minute"] == round(2 / 60, 3)
    assert stats["by_error_type"] == {"circuit_breaker_open": 2, "api_rate_limit": 1}
    assert stats["by_service"] == {"spotify.albums": 2, "spotify.audio_features": 1}

    assert client.get("/api/v1/dlq/errors/grouped").json() == {"circuit_breaker_open": 2, "api_rate_limit": 1}
    groups = client.get("/api/v1/dlq/errors/grouped?detail=true").json()["groups"]
    assert groups[0]["error_type"] == "circuit_breaker_open" and groups[0]["count"] == 2
    assert groups[0]["sample_messages"] == ["circuit_breaker_open happened"]

    messages = client.get("/api/v1/dlq/messages?limit=2").json()
    assert messages["count"] == 2
    assert set(messages["messages"][0]) >= {
        "id",
        "error_type",
        "error_message",
        "retry_count",
        "source_service",
        "payload",
        "correlation_id",
    }
    assert client.get("/api/v1/dlq/messages?limit=0").status_code == 400
    assert client.get("/api/v1/dlq/messages?limit=lots").json()["errors"]["limit"]


def test_an_empty_queue_has_null_ages(client: Client, viewer: User) -> None:
    client.force_login(viewer)
    stats = client.get("/api/v1/dlq/stats").json()
    assert stats["total_messages"] == 0 and stats["oldest_message_age_minutes"] is None


def test_replay_requeues_dead_lettered_sources_once_and_they_ingest(
    spotify_emulator: SpotifyEmulator,
    queue_albums: Callable[[list[str]], list[str]],
    settings,
    client: Client,
    operator: User,
    django_capture_on_commit_callbacks: Callable,
) -> None:
    settings.INGEST_MAX_ATTEMPTS = 1
    album_ids = queue_albums(spotify_emulator.catalog.album_ids()[:3])
    spotify_emulator.fault("albums", status=500, times=settings.SPOTIFY_MAX_ATTEMPTS)
    assert ingest_albums_from_sources()["dead_lettered"] == 3
    assert DeadLetter.objects.filter(status="pending").count() == 3

    client.force_login(operator)
    with django_capture_on_commit_callbacks() as callbacks:
        first = client.post("/api/v1/dlq/replay/batch", {"batch_size": 10}, content_type="application/json").json()
    assert first == {"replayed_count": 3, "failed_count": 0, "errors": []}
    assert len(callbacks) == 1, "one ingest run queued for the whole batch"
    assert AlbumSource.objects.filter(status="queued", attempts=0).count() == 3
    assert set(DeadLetter.objects.values_list("replayed_by", flat=True)) == {"api:olive"}

    second = client.post("/api/v1/dlq/replay/batch", {"batch_size": 10}, content_type="application/json").json()
    assert second == {"replayed_count": 0, "failed_count": 0, "errors": []}

    assert ingest_albums_from_sources()["albums_done"] == 3
    assert set(AlbumSource.objects.values_list("spotify_album_id", flat=True)) == set(album_ids)


def test_replay_reports_letters_it_cannot_replay() -> None:
    broken = _letter(operation="ingest_album", payload={"album_source_id": 999999})
    _letter(operation="something_else", payload={"x": 1})
    result = dead_letters_replay(batch_size=10, actor="test")
    assert result["replayed_count"] == 0 and result["failed_count"] == 1
    assert {"id": broken.pk, "operation": "ingest_album", "error": "album source 999999 no longer exists"} in result["errors"]
    assert {"id": None, "operation": "something_else", "error": "no replay handler for this operation"} in result["errors"]
    assert DeadLetter.objects.filter(status="pending").count() == 2, "nothing is dropped"


def test_replay_batch_validates_its_body(client: Client, operator: User) -> None:
    client.force_login(operator)
    response = client.post("/api/v1/dlq/replay/batch", {"batch_size": 0}, content_type="application/json")
    assert response.status_code == 400 and "batch_size" in response.json()["errors"]


def test_purge_before_a_date_marks_older_letters_purged(client: Client, operator: User) -> None:
    old = _letter(payload={"n": "old"})
    DeadLetter.objects.filter(pk=old.pk).update(last_seen=timezone.now() - timedelta(days=3))
    _letter(payload={"n": "new"})
    client.force_login(operator)
    day = (timezone.now() - timedelta(days=1)).date().isoformat()
    response = client.delete(f"/api/v1/dlq/messages/before/{day}")
    assert response.json() == {"purged_count": 1, "before": day}
    assert DeadLetter.objects.get(pk=old.pk).status == "purged"
    assert DeadLetter.objects.filter(status="pending").count() == 1
    assert client.delete(f"/api/v1/dlq/messages/before/{day}").json()["purged_count"] == 0


@pytest.mark.parametrize("bad", ["2025-13-01", "yesterday", "2025-02-30"])
def test_purge_with_a_bad_date_is_a_400(client: Client, operator: User, bad: str) -> None:
    client.force_login(operator)
    response = client.delete(f"/api/v1/dlq/messages/before/{bad}")
    assert response.status_code == 400
    assert "before" in response.json()["errors"]


def test_viewers_read_the_dlq_but_cannot_replay_or_purge(client: Client, viewer: User) -> None:
    client.force_login(viewer)
    assert client.get("/api/v1/dlq/stats").status_code == 200
    assert client.post("/api/v1/dlq/replay/batch", {}, content_type="application/json").status_code == 403
    assert client.delete("/api/v1/dlq/messages/before/2026-01-01").status_code == 403
    assert client.post("/api/v1/circuit-breakers/reset-all").status_code == 403


def test_anonymous_gets_401_json(client: Client) -> None:
    response = client.get("/api/v1/dlq/stats")
    assert response.status_code in (401, 403)
    assert "detail" in response.json()


def test_circuit_breakers_list_and_reset_all(client: Client, operator: User, settings) -> None:
    for _ in range(settings.BREAKER_FAILURE_THRESHOLD):
        breaker_failure("spotify.albums", error="albums: HTTP 503")
    client.force_login(operator)
    breakers = {b["name"]: b for b in client.get("/api/v1/circuit-breakers").json()["breakers"]}
    assert breakers["spotify.albums"]["state"] == "open"
    assert breakers["spotify.albums"]["remaining_cooldown"] > 0
    assert breakers["spotify.audio_features"]["state"] == "closed"
    assert client.post("/api/v1/circuit-breakers/reset-all").json() == {"reset_count": 1}
    assert breaker_state("spotify.albums")["state"] == "closed"


def test_one_circuit_breaker_can_be_reset_by_name(client: Client, operator: User, settings) -> None:
    for _ in range(settings.BREAKER_FAILURE_THRESHOLD):
        breaker_failure("spotify.audio_features", error="503")
    client.force_login(operator)
    response = client.post("/api/v1/circuit-breakers/spotify.audio_features/reset")
    assert response.status_code == 200 and response.json()["state"] == "closed"
    missing = client.post("/api/v1/circuit-breakers/spotify.nope/reset")
    assert missing.status_code == 404 and "spotify.nope" in missing.json()["detail"]
