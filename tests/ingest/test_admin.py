"""Ingest admin: cheap changelists, readable features, submit form, DLQ actions."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from django.contrib.auth.models import User
from django.contrib.messages import get_messages
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from ingest.models import Album, AlbumSource, Artist, DeadLetter, Track
from ingest.services import dead_letter_record
from spotify.breaker import breaker_failure, breaker_state

pytestmark = pytest.mark.django_db


@pytest.fixture
def catalog() -> list[Track]:
    artists = Artist.objects.bulk_create([Artist(spotify_id=f"artist{i:016d}xx", name=f"Artist {i}") for i in range(10)])
    albums = Album.objects.bulk_create(
        [Album(spotify_id=f"album{i:017d}xx", name=f"Album {i}", artist=artists[i % 10]) for i in range(20)]
    )
    return Track.objects.bulk_create(
        [
            Track(
                spotify_id=f"track{i:015d}xx",
                name=f"Song {i}",
                album=albums[i % 20],
                artist=artists[i % 10],
                isrc=f"QZ{i:010d}",
                duration_ms=200_000,
                audio_features={"energy": 0.5, "valence": 0.25, "tempo": 120.0, "key": 1, "mode": 0} if i % 2 else None,
                features_fetched_at=timezone.now() if i % 2 else None,
            )
            for i in range(120)
        ]
    )


def _letters(count: int) -> list[DeadLetter]:
    return [
        dead_letter_record(
            source_service="spotify.albums",
            operation="fetch_audio_features",
            error_type="server_error",
            error_message=f"boom {i}",
            payload={"i": i},
        )
        for i in range(count)
    ]


@pytest.mark.parametrize(
    "query", ["", "?features=yes", "?features=no", "?features=unavailable", "?q=Song+1", "?q=QZ0000000007", "?explicit__exact=1"]
)
def test_track_changelist_queries_stay_flat(
    client: Client, superuser: User, catalog: list[Track], django_assert_max_num_queries, query: str
) -> None:
    client.force_login(superuser)
    with django_assert_max_num_queries(8):
        response = client.get(reverse("admin:ingest_track_changelist") + query)
    assert response.status_code == 200


def test_track_changelist_query_count_does_not_grow_with_rows(client: Client, superuser: User, catalog: list[Track]) -> None:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    client.force_login(superuser)
    url = reverse("admin:ingest_track_changelist")
    with CaptureQueriesContext(connection) as before:
        client.get(url)
    first = catalog[0]
    Track.objects.bulk_create(
        [
            Track(spotify_id=f"more{i:018d}xx", name=f"More {i}", album_id=first.album_id, artist_id=first.artist_id)
            for i in range(300)
        ]
    )
    with CaptureQueriesContext(connection) as after:
        client.get(url)
    assert len(after) == len(before)


def test_track_search_by_spotify_id_and_isrc_is_exact(client: Client, superuser: User, catalog: list[Track]) -> None:
    client.force_login(superuser)
    by_id = client.get(reverse("admin:ingest_track_changelist") + f"?q={catalog[7].spotify_id}")
    assert list(by_id.context["cl"].result_list) == [catalog[7]]
    by_isrc = client.get(reverse("admin:ingest_track_changelist") + "?q=qz0000000007")
    assert list(by_isrc.context["cl"].result_list) == [catalog[7]]


def test_track_page_shows_features_readably(client: Client, superuser: User, catalog: list[Track]) -> None:
    client.force_login(superuser)
    page = client.get(reverse("admin:ingest_track_change", args=[catalog[1].pk])).content.decode()
    assert "<th>Energy</th><td>0.50</td>" in page
    assert "<th>Key</th><td>C♯/D♭</td>" in page and "<th>Mode</th><td>minor</td>" in page
    missing = client.get(reverse("admin:ingest_track_change", args=[catalog[0].pk])).content.decode()
    assert "Not fetched yet." in missing


@pytest.mark.parametrize("name", ["artist", "album", "albumsource", "deadletter"])
def test_other_changelists_stay_flat(
    client: Client, superuser: User, catalog: list[Track], django_assert_max_num_queries, name: str
) -> None:
    AlbumSource.objects.bulk_create(
        [AlbumSource(raw_input=a.spotify_id, spotify_album_id=a.spotify_id, status="done", album=a) for a in Album.objects.all()]
    )
    _letters(30)
    client.force_login(superuser)
    # The page's own queries, the session's, and the kill switch banner's (one row by primary key).
    with django_assert_max_num_queries(9):
        response = client.get(reverse(f"admin:ingest_{name}_changelist"))
    assert response.status_code == 200


def test_replay_action_replays_pending_letters_and_reports(
    client: Client, superuser: User, django_capture_on_commit_callbacks: Callable
) -> None:
    letters = _letters(3)
    client.force_login(superuser)
    with django_capture_on_commit_callbacks() as callbacks:
        response = client.post(
            reverse("admin:ingest_deadletter_changelist"),
            {"action": "replay", "_selected_action": [letter.pk for letter in letters[:2]], "post": "yes"},
            follow=True,
        )
    assert "2 dead letters replayed." in [str(m) for m in response.context["messages"]]
    assert len(callbacks) == 1
    assert DeadLetter.objects.filter(status="replayed").count() == 2
    assert DeadLetter.objects.filter(status="replayed", replayed_by="admin:root").count() == 2


def test_purge_action_asks_first_then_purges(client: Client, superuser: User) -> None:
    letters = _letters(2)
    client.force_login(superuser)
    url = reverse("admin:ingest_deadletter_changelist")
    ids = [letter.pk for letter in letters]
    confirm = client.post(url, {"action": "purge", "_selected_action": ids})
    assert confirm.status_code == 200
    assert "Purge 2 pending dead letters?" in confirm.content.decode()
    assert DeadLetter.objects.filter(status="pending").count() == 2, "nothing happens before the confirmation"
    done = client.post(url, {"action": "purge", "_selected_action": ids, "confirmed": "yes"}, follow=True)
    assert "2 dead letters purged." in [str(m) for m in done.context["messages"]]
    assert DeadLetter.objects.filter(status="purged").count() == 2


def test_reset_breakers_button_is_for_operators(client: Client, superuser: User, viewer: User, settings) -> None:
    for _ in range(settings.BREAKER_FAILURE_THRESHOLD):
        breaker_failure("spotify.albums", error="503")
    url = reverse("admin:ingest_deadletter_reset_breakers")
    client.force_login(viewer)
    assert client.post(url).status_code == 403
    assert breaker_state("spotify.albums")["state"] == "open"
    client.force_login(superuser)
    response = client.post(url)
    assert response.status_code == 302
    assert [str(m) for m in get_messages(response.wsgi_request)] == ["Circuit breakers reset (1 was not closed)."]
    assert breaker_state("spotify.albums")["state"] == "closed"


def test_requeue_action_only_takes_failed_sources(client: Client, superuser: User) -> None:
    failed = AlbumSource.objects.create(
        raw_input="x" * 22, spotify_album_id="x" * 22, status="failed", attempts=5, last_error="boom"
    )
    invalid = AlbumSource.objects.create(raw_input="nope", status="invalid", last_error="bad")
    client.force_login(superuser)
    response = client.post(
        reverse("admin:ingest_albumsource_changelist"),
        {"action": "requeue", "_selected_action": [failed.pk, invalid.pk]},
        follow=True,
    )
    messages = [str(m) for m in response.context["messages"]]
    assert messages == [
        "1 source queued again. 1 skipped (only failed sources are requeued; invalid input must be resubmitted corrected)."
    ]
    failed.refresh_from_db()
    assert (failed.status, failed.attempts) == ("queued", 0)


def test_run_ingest_now_button_queues_the_job_once(
    client: Client, superuser: User, viewer: User, django_capture_on_commit_callbacks: Callable
) -> None:
    from jobs.models import JobRun

    client.force_login(superuser)
    page = client.get(reverse("admin:ingest_albumsource_changelist")).content.decode()
    assert "Run ingest now" in page and "Submit album links" in page
    with django_capture_on_commit_callbacks() as callbacks:
        response = client.post(reverse("admin:ingest_albumsource_run_now"))
    assert response.status_code == 302 and len(callbacks) == 1
    run = JobRun.objects.get()
    assert (run.job_name, run.trigger, run.triggered_by) == ("ingest_albums_from_sources", "admin", "admin:root")
    client.force_login(viewer)
    assert client.post(reverse("admin:ingest_albumsource_run_now")).status_code == 403
