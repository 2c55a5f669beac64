"""Dead-letter replay asked for its dry run (dead_letters_replay_preview): nothing replayed or
queued, Spotify not called; the album calls it counts are the calls the ingest the replay queues
then makes against the emulator; the admin action shows the preview before it replays."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from accounts.models import SpotifyApp
from audit.models import AuditEvent
from devstack.emulator import SpotifyEmulator
from ingest.models import AlbumSource, DeadLetter
from ingest.services import dead_letter_record, ingest_albums_from_sources
from jobs.models import JobRun

pytestmark = pytest.mark.django_db

ALBUM_CALLS = ("albums", "album", "album_tracks")


def _album_calls(emulator: SpotifyEmulator) -> int:
    counts = emulator.counts()
    return sum(counts.get(name, 0) for name in ALBUM_CALLS)


def _rows() -> tuple[Any, ...]:
    return (
        JobRun.objects.count(),
        AuditEvent.objects.count(),
        sorted(DeadLetter.objects.values_list("status", flat=True)),
        sorted(AlbumSource.objects.values_list("status", flat=True)),
    )


@pytest.fixture
def dead_lettered(
    spotify_emulator: SpotifyEmulator, queue_albums: Callable[[list[str]], list[str]], settings: Any
) -> list[DeadLetter]:
    """Three albums (one album-tracks page each) whose ingest gave up on 500s."""
    settings.INGEST_MAX_ATTEMPTS = 1
    long = set(spotify_emulator.catalog.long_album_ids())
    queue_albums([album_id for album_id in spotify_emulator.catalog.album_ids() if album_id not in long][:3])
    spotify_emulator.fault("albums", status=500, times=settings.SPOTIFY_MAX_ATTEMPTS)
    assert ingest_albums_from_sources()["dead_lettered"] == 3
    return list(DeadLetter.objects.order_by("first_seen", "pk"))


def _preview(client: Client, **body: Any) -> dict[str, Any]:
    response = client.post("/api/v1/dlq/replay/batch", {"dry_run": True, **body}, content_type="application/json")
    assert response.status_code == 200, response.content
    return response.json()


def test_the_preview_counts_the_album_calls_the_replayed_ingest_then_makes(
    client: Client, operator: User, spotify_emulator: SpotifyEmulator, spotify_app: SpotifyApp, dead_lettered: list[DeadLetter]
) -> None:
    # A Development Mode app known to be refused several-albums calls: one Get Album each, exactly.
    SpotifyApp.objects.filter(pk=spotify_app.pk).update(
        capabilities={"several_albums": False}, capabilities_checked_at={"several_albums": timezone.now().isoformat()}
    )
    client.force_login(operator)
    before = _rows()
    spotify_emulator.reset_counts()

    preview = _preview(client, batch_size=10)

    assert (_rows(), spotify_emulator.counts()) == (before, {})
    assert (preview["count"], preview["calls_min"], preview["calls_max"], preview["skipped"]) == (3, 3, 3, {})
    assert preview["sample"] == [str(letter.pk) for letter in dead_lettered]
    assert [app["app"] for app in preview["apps"]] == [str(spotify_app.pk)]

    replayed = client.post("/api/v1/dlq/replay/batch", {"batch_size": 10}, content_type="application/json").json()
    assert replayed["replayed_count"] == 3
    assert ingest_albums_from_sources()["albums_done"] == 3
    assert _album_calls(spotify_emulator) == preview["calls_max"]


def test_an_app_not_known_to_take_several_albums_may_cost_one_call_per_album(
    client: Client, operator: User, spotify_emulator: SpotifyEmulator, spotify_app: SpotifyApp, dead_lettered: list[DeadLetter]
) -> None:
    SpotifyApp.objects.filter(pk=spotify_app.pk).update(capabilities={})
    dead_letter_record(
        source_service="x", operation="ingest_album", error_type="e", error_message="m", payload={"album_source_id": 0}
    )
    dead_letter_record(source_service="x", operation="unknown_op", error_type="e", error_message="m", payload={})
    client.force_login(operator)

    preview = _preview(client, batch_size=10)

    # Refused on its first several-albums call, the run fetches each album alone.
    assert (preview["count"], preview["calls_min"], preview["calls_max"]) == (3, 1, 4)
    assert preview["skipped"] == {"would fail: its album source no longer exists": 1, "no replay handler for unknown_op": 1}
    spotify_emulator.reset_counts()
    client.post("/api/v1/dlq/replay/batch", {"batch_size": 10}, content_type="application/json")
    ingest_albums_from_sources()
    assert preview["calls_min"] <= _album_calls(spotify_emulator) <= preview["calls_max"]


def test_the_admin_action_shows_the_preview_before_it_replays(
    client: Client, superuser: User, spotify_emulator: SpotifyEmulator, dead_lettered: list[DeadLetter]
) -> None:
    client.force_login(superuser)
    url = reverse("admin:ingest_deadletter_changelist")
    selection = {"action": "replay", "_selected_action": [letter.pk for letter in dead_lettered[:2]]}
    before = _rows()
    spotify_emulator.reset_counts()

    asked = client.post(url, selection)

    assert asked.status_code == 200
    page = asked.content.decode()
    assert "2 dead letters: Spotify calls" in page and 'name="post" value="yes"' in page
    assert (_rows(), spotify_emulator.counts()) == (before, {})
    done = client.post(url, {**selection, "post": "yes"}, follow=True)
    assert "2 dead letters replayed." in [str(m) for m in done.context["messages"]]
    assert DeadLetter.objects.filter(status="replayed").count() == 2


def test_replay_oldest_shows_the_preview_before_it_replays(
    client: Client, superuser: User, spotify_emulator: SpotifyEmulator, dead_lettered: list[DeadLetter]
) -> None:
    client.force_login(superuser)
    url = reverse("admin:ingest_deadletter_replay_oldest")
    before = _rows()

    asked = client.post(url)

    assert asked.status_code == 200 and "3 dead letters: Spotify calls" in asked.content.decode()
    assert _rows() == before
    client.post(url, {"post": "yes"})
    assert DeadLetter.objects.filter(status="replayed").count() == 3
