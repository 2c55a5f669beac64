"""Playlists create and daily scaling asked for their dry run (playlists/services/previews.py):
nothing written, Spotify not called, the preview in every preview's shape; the writes it counts
are the writes the real run's queued jobs then make against the emulator."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import User
from rest_framework.test import APIClient

from accounts.models import SpotifyAccount
from audit.models import AuditEvent
from jobs.models import JobRun
from playlists import services
from playlists.models import Playlist, PlaylistHistory
from playlists.tasks import playlist_sync_one, playlists_unfollow_batch
from spotify.ratelimit_settings import rate_limit_set
from tests.factories import PlaylistFactory, PlaylistPolicyFactory, make_catalog
from tests.fixtures_clients import api_key_for

pytestmark = pytest.mark.django_db

WRITES = ("create_playlist", "playlist_details", "playlist_items_put", "playlist_items_post", "library_remove")
TASKS = {task.name: task for task in (playlist_sync_one, playlists_unfollow_batch)}
SHAPE = {"count", "sample", "skipped", "calls_min", "calls_max", "eta_seconds", "apps", "notes"}


def _writes(emulator: Any) -> int:
    counts = emulator.counts()
    return sum(counts.get(name, 0) for name in WRITES)


def _rows() -> tuple[int, ...]:
    return tuple(model.objects.count() for model in (Playlist, PlaylistHistory, JobRun, AuditEvent))


def _run_queued(job_names: tuple[str, ...], after: int) -> None:
    """Run, here, the jobs the real run queued (their JobRun rows say which, with what)."""
    for run in JobRun.objects.filter(pk__gt=after, job_name__in=job_names).order_by("pk"):
        TASKS[run.job_name].apply(args=run.args, kwargs=run.kwargs).get()


@pytest.fixture
def api(operator: User) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {api_key_for(operator)}")
    return client


def test_create_preview_counts_the_writes_of_the_syncs_the_creation_queues(
    api: APIClient, spotify_emulator: Any, make_account: Any
) -> None:
    make_catalog(artists=120, tracks_per_artist=4)
    account = make_account("create-preview")
    # 150 tracks: each new playlist is one create, one replace and one add.
    PlaylistPolicyFactory(name="Big", is_default=True, size=150, artist_cap=3, name_template="Big #{{ index }}")
    before = _rows()
    spotify_emulator.reset_counts()

    response = api.post("/api/v1/playlists/create", {"account_id": str(account.pk), "count": 3, "dry_run": True}, format="json")

    assert response.status_code == 200, response.content
    preview = response.json()
    assert set(preview) == SHAPE | {"dry_run"} and preview["dry_run"] is True
    assert (_rows(), spotify_emulator.counts()) == (before, {})
    assert (preview["count"], preview["calls_min"], preview["calls_max"], preview["skipped"]) == (3, 9, 9, {})
    assert preview["sample"] == [f"{account.display_name}: Big #{n}" for n in (1, 2, 3)]
    [app] = preview["apps"]
    assert (app["app"], app["count"], app["calls_max"]) == (str(account.app_id), 3, 9)

    last_run = JobRun.objects.order_by("-pk").values_list("pk", flat=True).first() or 0
    created = api.post("/api/v1/playlists/create", {"account_id": str(account.pk), "count": 3}, format="json")
    assert created.status_code == 201
    _run_queued(("playlist_sync_one",), last_run)
    assert _writes(spotify_emulator) == preview["calls_max"]
    assert Playlist.objects.filter(account=account).exclude(spotify_playlist_id="").count() == 3


def test_create_preview_refuses_what_the_creation_refuses(api: APIClient, make_account: Any) -> None:
    account = make_account("full")
    SpotifyAccount.objects.filter(pk=account.pk).update(playlist_capacity=1)
    before = _rows()
    response = api.post("/api/v1/playlists/create", {"account_id": str(account.pk), "count": 2, "dry_run": True}, format="json")
    assert response.status_code == 400
    assert response.json()["errors"] == {"count": ["Count must be between 1 and 1 (free capacity of this account)."]}
    SpotifyAccount.objects.filter(pk=account.pk).update(health="quarantined", health_reason="test")
    response = api.post("/api/v1/playlists/create", {"account_id": str(account.pk), "count": 1, "dry_run": True}, format="json")
    assert response.json()["errors"] == {"account_id": ["Cannot create playlists: account quarantined: test."]}
    assert _rows() == before


def test_scale_plan_counts_the_writes_its_retirements_and_creations_then_make(
    api: APIClient, spotify_emulator: Any, make_account: Any
) -> None:
    make_catalog(artists=60, tracks_per_artist=4)
    policy = PlaylistPolicyFactory(name="Steady", is_default=True)
    crowded, roomy, stuck = make_account("crowded"), make_account("roomy"), make_account("stuck")
    for owner, count in ((crowded, 4), (stuck, 1)):
        for _ in range(count):
            services.playlist_sync(playlist=PlaylistFactory(account=owner, policy=policy), actor="test")
    SpotifyAccount.objects.filter(pk=crowded.pk).update(playlist_capacity=2)
    SpotifyAccount.objects.filter(pk=roomy.pk).update(playlist_capacity=3)
    SpotifyAccount.objects.filter(pk=stuck.pk).update(health="quarantined", health_reason="test")
    before = _rows()
    spotify_emulator.reset_counts()

    response = api.post("/api/v1/playlists/scale", {"dry_run": True}, format="json")

    assert response.status_code == 200, response.content
    plan = response.json()
    assert set(plan) >= SHAPE and (_rows(), spotify_emulator.counts()) == (before, {})
    assert (plan["to_retire"], plan["to_create"], len(plan["moves"])) == (3, 3, 1)
    # Two surplus playlists leave crowded's library in one call; the one moved off the quarantined
    # account stays in its library (no call); three new playlists on roomy: a create and a replace each.
    assert (plan["count"], plan["calls_min"], plan["calls_max"]) == (6, 7, 7)
    assert any("stay in their owners' libraries" in note for note in plan["notes"])

    last_run = JobRun.objects.order_by("-pk").values_list("pk", flat=True).first() or 0
    done = services.playlists_scale_daily(dry_run=False, actor="test")
    assert (done["retired"], done["created"]) == (3, 3)
    _run_queued(("playlist_sync_one", "playlists_unfollow_batch"), last_run)
    assert _writes(spotify_emulator) == plan["calls_max"]


def test_the_admin_scale_page_shows_the_plans_calls_before_it_queues_the_run(
    client: Any, superuser: User, spotify_emulator: Any, make_account: Any
) -> None:
    make_account("empty")
    PlaylistPolicyFactory(name="Steady", is_default=True)
    SpotifyAccount.objects.update(playlist_capacity=2)
    client.force_login(superuser)
    before = _rows()
    spotify_emulator.reset_counts()

    page = client.get("/admin/playlists/playlist/scale/").content.decode()

    # Two new playlists of 50 tracks: a create and a replace each.
    assert "2 playlists retired or created: Spotify calls\n4," in page
    assert (_rows(), spotify_emulator.counts()) == (before, {})
    client.post("/admin/playlists/playlist/scale/")
    assert JobRun.objects.filter(job_name="scale_playlists_daily").count() == 1


def test_the_admin_create_action_asks_how_many_previews_and_creates_what_it_showed(
    client: Any, superuser: User, spotify_emulator: Any, make_account: Any
) -> None:
    make_catalog(artists=60, tracks_per_artist=4)
    PlaylistPolicyFactory(name="Steady", is_default=True)
    healthy, stuck = make_account("healthy"), make_account("stuck")
    SpotifyAccount.objects.filter(pk=stuck.pk).update(health="quarantined", health_reason="test")
    client.force_login(superuser)
    url = "/admin/accounts/spotifyaccount/"
    selection = {"action": "create_playlists_action", "_selected_action": [str(healthy.pk), str(stuck.pk)]}
    before = _rows()
    spotify_emulator.reset_counts()

    first = client.post(url, selection).content.decode()
    again = client.post(url, {**selection, "count": "2"})

    assert "1 new playlists: Spotify calls" in first and 'name="count"' in first
    preview = again.context["preview"]
    assert (preview["count"], preview["calls_max"]) == (2, 4)
    assert preview["skipped"] == {f"{stuck.display_name}: Cannot create playlists: account quarantined: test.": 1}
    assert (_rows(), spotify_emulator.counts()) == (before, {})

    last_run = JobRun.objects.order_by("-pk").values_list("pk", flat=True).first() or 0
    done = client.post(url, {**selection, "count": "2", "post": "yes"}, follow=True)
    assert "2 playlists created; their syncs are queued." in [str(m) for m in done.context["messages"]]
    _run_queued(("playlist_sync_one",), last_run)
    assert _writes(spotify_emulator) == preview["calls_max"]


def test_the_create_preview_names_a_schedule_window_the_new_playlists_would_overflow(
    api: APIClient, make_account: Any
) -> None:
    account = make_account("tight")
    PlaylistPolicyFactory(name="Steady", is_default=True)
    body = {"account_id": str(account.pk), "count": 30, "dry_run": True}
    assert api.post("/api/v1/playlists/create", body, format="json").json()["notes"] == []
    # 37 calls an hour: the empty schedule fits, thirty more playlists (two calls each) would not.
    rate_limit_set(kind="app", ident=str(account.app_id), rate_per_second=0.01, burst=1, actor="test")

    notes = api.post("/api/v1/playlists/create", body, format="json").json()["notes"]

    assert notes and all(note.startswith("Fleet capacity: ") for note in notes)
    assert any("reshuffle_due_playlists" in note for note in notes)
