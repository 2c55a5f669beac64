"""Admin pages and actions through the test client: lists render cheaply, actions report counts."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.admin.sites import site
from django.contrib.auth.models import User
from django.contrib.messages import get_messages
from django.contrib.messages.storage.fallback import FallbackStorage
from django.test import Client, RequestFactory

from accounts.models import SpotifyAccount, SpotifyApp
from jobs.models import JobRun
from playlists.admin import reshuffle_account_playlists_action
from playlists.models import Playlist, PlaylistHistory
from playlists.services import playlist_build_snapshot
from tests.factories import PlaylistFactory, PlaylistPolicyFactory, make_catalog

pytestmark = pytest.mark.django_db

CHANGELIST = "/admin/playlists/playlist/"


@pytest.fixture
def staff(client: Client, superuser: User) -> Client:
    client.force_login(superuser)
    return client


@pytest.fixture
def acct(spotify_app: SpotifyApp) -> SpotifyAccount:
    return SpotifyAccount.objects.create(app=spotify_app, display_name="Admin acct", spotify_user_id="admin-user")


def _messages(response: Any) -> list[str]:
    return [str(m) for m in get_messages(response.wsgi_request)]


def test_changelist_and_change_page_render_with_the_snapshot_tracks(staff: Client, acct: SpotifyAccount) -> None:
    make_catalog(artists=30, tracks_per_artist=2)
    playlist = PlaylistFactory(account=acct, policy=PlaylistPolicyFactory())
    playlist_build_snapshot(playlist=playlist, actor="test")
    for _ in range(5):
        PlaylistFactory(account=acct)

    listing = staff.get(CHANGELIST, {"sync_problem": "never"})
    assert listing.status_code == 200 and b"Admin acct" in listing.content
    page = staff.get(f"{CHANGELIST}{playlist.pk}/change/")
    assert page.status_code == 200
    playlist.refresh_from_db()
    first = playlist.current_snapshot.items.select_related("track").order_by("position").first()
    assert first.track.spotify_id.encode() in page.content
    assert staff.get("/admin/playlists/playlisthistory/").status_code == 200
    assert staff.get("/admin/playlists/playlistpolicy/").status_code == 200


def test_reshuffle_now_queues_one_task_per_playlist_and_reports_counts(
    staff: Client, acct: SpotifyAccount, spotify_app: SpotifyApp, django_capture_on_commit_callbacks: Any
) -> None:
    ok = [PlaylistFactory(account=acct) for _ in range(2)]
    quarantined = SpotifyAccount.objects.create(app=spotify_app, display_name="Q", spotify_user_id="q", health="quarantined")
    stuck = PlaylistFactory(account=quarantined)

    selection = {"action": "reshuffle_now", "_selected_action": [str(p.pk) for p in [*ok, stuck]]}
    asked = staff.post(CHANGELIST, selection)
    assert "2 playlists: Spotify calls" in asked.content.decode() and "1 skipped: account quarantined" in asked.content.decode()
    assert not JobRun.objects.exists()  # the confirmation is a dry run
    with django_capture_on_commit_callbacks() as callbacks:
        response = staff.post(CHANGELIST, {**selection, "post": "yes"}, follow=True)

    assert response.status_code == 200
    texts = _messages(response)
    assert "2 playlists queued for reshuffle." in texts
    assert any(t.startswith("1 playlist skipped") for t in texts)
    assert len(callbacks) == 1  # one on-commit hook publishes both tasks
    assert JobRun.objects.filter(task_name="playlist_reshuffle_one", trigger="admin", triggered_by="admin:root").count() == 2
    assert PlaylistHistory.objects.filter(playlist=stuck, action="skip").exists()


def test_sync_now_queues_verifying_syncs(staff: Client, acct: SpotifyAccount, django_capture_on_commit_callbacks: Any) -> None:
    playlist = PlaylistFactory(account=acct)
    with django_capture_on_commit_callbacks():
        response = staff.post(CHANGELIST, {"action": "sync_now", "_selected_action": [str(playlist.pk)]}, follow=True)
    assert "1 playlist queued for sync." in _messages(response)
    assert JobRun.objects.get(task_name="playlist_sync_one").kwargs["verify"] is True


def test_retire_asks_for_confirmation_then_retires(staff: Client, acct: SpotifyAccount) -> None:
    playlists = [PlaylistFactory(account=acct) for _ in range(2)]
    selected = [str(p.pk) for p in playlists]

    confirm = staff.post(CHANGELIST, {"action": "retire", "_selected_action": selected})
    assert confirm.status_code == 200 and b"Yes, retire them" in confirm.content
    assert Playlist.objects.filter(status="active").count() == 2

    done = staff.post(CHANGELIST, {"action": "retire", "_selected_action": selected, "post": "yes"}, follow=True)
    assert "2 playlists retired; their Spotify unfollows are queued." in _messages(done)
    assert Playlist.objects.filter(status="retired").count() == 2
    assert PlaylistHistory.objects.filter(action="retire", actor="admin:root").count() == 2


def test_scaling_preview_shows_the_plan_and_queues_the_real_run(staff: Client, acct: SpotifyAccount, django_capture_on_commit_callbacks: Any) -> None:
    preview = staff.get(f"{CHANGELIST}scale/")
    assert preview.status_code == 200 and b"Admin acct" in preview.content
    assert not Playlist.objects.exists()
    with django_capture_on_commit_callbacks():
        staff.post(f"{CHANGELIST}scale/")
    assert JobRun.objects.get(task_name="scale_playlists_daily").trigger == "admin"


def test_policy_admin_rejects_bad_templates_and_ranges_with_clear_messages(staff: Client) -> None:
    form = {
        "name": "Broken", "size": 50, "cooldown_days": 5, "artist_cap": 2, "short_pool": "strict",
        "reshuffle_interval_days": 5, "feature_ranges": '{"energy": {"min": 0.9, "max": 0.1}, "loudnesss": {"min": 1}}',
        "source_filter": "{}", "name_template": "{% if %}", "description_template": "ok", "tracks_without_features_pass": "on",
    }
    response = staff.post("/admin/playlists/playlistpolicy/add/", form)
    assert response.status_code == 200
    content = response.content.decode()
    assert "min (0.9) is greater than max (0.1)" in content
    assert "Unknown audio feature" in content
    assert "Template does not compile" in content


def test_account_action_reshuffles_every_playlist_of_the_selected_accounts(acct: SpotifyAccount, superuser: User) -> None:
    for _ in range(3):
        PlaylistFactory(account=acct)
    PlaylistFactory(account=acct, status=Playlist.Status.RETIRED)
    account_admin = site._registry[SpotifyAccount]
    asked = RequestFactory().post("/admin/accounts/spotifyaccount/", {"action": "reshuffle_account_playlists_action"})
    asked.user = superuser
    asked.session = {}  # type: ignore[assignment]
    confirmation = reshuffle_account_playlists_action(account_admin, asked, SpotifyAccount.objects.filter(pk=acct.pk))
    assert confirmation is not None and "3 playlists: Spotify calls" in confirmation.rendered_content
    assert not JobRun.objects.exists()  # the confirmation is a dry run
    request = RequestFactory().post("/admin/accounts/spotifyaccount/", {"post": "yes"})
    request.user = superuser
    request.session = {}  # type: ignore[assignment]
    request._messages = FallbackStorage(request)  # type: ignore[attr-defined]

    reshuffle_account_playlists_action(account_admin, request, SpotifyAccount.objects.filter(pk=acct.pk))

    assert [str(m) for m in request._messages] == ["3 playlists queued for reshuffle."]  # type: ignore[attr-defined]
    assert JobRun.objects.filter(task_name="playlist_reshuffle_one").count() == 3
