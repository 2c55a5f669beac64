"""Fleet capacity (playlists/services/capacity.py): per app, the calls each scheduled job's next run
asks for against the rate limits in its window. The counts are the calls those runs then make
against the emulator; a change that would not fit is named before it is made."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import time_machine
from django.contrib.auth.models import User
from django.utils import timezone
from rest_framework.test import APIClient

from accounts.models import SpotifyApp
from playlists import services
from playlists.models import Playlist
from playlists.tasks import playlist_reshuffle_one
from spotify.client import MAX_LIBRARY_URIS
from spotify.ratelimit_settings import rate_limit_set
from tests.factories import PlaylistFactory, PlaylistPolicyFactory, make_catalog
from tests.fixtures_clients import api_key_for, client_for

pytestmark = pytest.mark.django_db

WRITES = ("create_playlist", "playlist_details", "playlist_items_put", "playlist_items_post")


@pytest.fixture
def fleet(make_account: Any) -> list[Playlist]:
    """Six synced playlists of 150 tracks on two accounts of one app, whose details never change;
    four of them due for a reshuffle tonight."""
    make_catalog(artists=120, tracks_per_artist=4)
    policy = PlaylistPolicyFactory(name="Capacity", size=150, artist_cap=3, description_template="Fresh picks")
    accounts = [make_account("capacity-a", capacity=10), make_account("capacity-b", capacity=10)]
    playlists = [PlaylistFactory(account=accounts[i % 2], policy=policy) for i in range(6)]
    for playlist in playlists:
        services.playlist_sync(playlist=playlist, actor="test")
    due, later = timezone.now() - timedelta(hours=1), timezone.now() + timedelta(days=5)
    for i, playlist in enumerate(playlists):
        Playlist.objects.filter(pk=playlist.pk).update(next_reshuffle_at=due if i < 4 else later)
    return playlists


def _windows(capacity: dict[str, Any], app: SpotifyApp) -> dict[str, dict[str, Any]]:
    (row,) = [row for row in capacity["apps"] if row["app"] == app.pk]
    return {window["job"]: window for window in row["windows"]}


def test_the_schedule_calls_counted_are_the_calls_the_runs_then_make(
    spotify_emulator: Any, spotify_app: SpotifyApp, fleet: list[Playlist]
) -> None:
    windows = _windows(services.fleet_capacity(), spotify_app)
    # Four due playlists of 150 tracks: a replace and an add each; nothing waits for a sync.
    assert (windows["reshuffle_due_playlists"]["calls"], windows["ensure_playlist_for_account"]["calls"]) == (8, 0)
    # One GET per playlist and one library check per 40 playlists of each account.
    assert windows["verify_playlists"]["calls"] == 6 + 2 * math.ceil(3 / MAX_LIBRARY_URIS)
    assert windows["reshuffle_due_playlists"]["busiest_account_calls"] == 4

    spotify_emulator.reset_counts()
    for playlist_id in services.playlists_reshuffle_due()["playlist_ids"]:
        playlist_reshuffle_one.apply(args=[playlist_id], kwargs={"actor": "test", "only_if_due": True}).get()
    counts = spotify_emulator.counts()
    assert sum(counts.get(name, 0) for name in WRITES) == windows["reshuffle_due_playlists"]["calls"]

    spotify_emulator.reset_counts()
    assert services.playlists_verify(actor="test")["checked"] == 6
    assert sum(spotify_emulator.counts().values()) == windows["verify_playlists"]["calls"]


def test_what_the_limits_allow_and_what_the_app_could_still_take(spotify_app: SpotifyApp, fleet: list[Playlist]) -> None:
    rate_limit_set(kind="app", ident=str(spotify_app.pk), rate_per_second=0.01, burst=10, actor="test")
    capacity = services.fleet_capacity()
    windows = _windows(capacity, spotify_app)
    # The burst plus an hour (each window's grace) at the rate.
    assert {window["allowed"] for window in windows.values()} == {10 + 36}
    (row,) = [row for row in capacity["apps"] if row["app"] == spotify_app.pk]
    assert (row["playlists"], row["slots_free"]) == (6, 20 - 6)
    # The default policy's new playlist: a create and 50 items on its first sync (2 calls), a replace
    # and a dated description on each reshuffle (2), verify's read and library check (2): room for
    # (46 - 8) // 2 = 19 in the tightest window, more than the 14 free slots.
    assert (row["could_take"], row["bound_by"], row["fits"]) == (14, "account slots", True)
    assert capacity["warnings"] == []

    crowded = services.fleet_capacity(extra_playlists={spotify_app.pk: 20})
    assert crowded["fits"] is False
    assert any(w.startswith(f"{spotify_app.name}: reshuffle_due_playlists") for w in crowded["warnings"])


def test_api_and_admin_page_show_it_to_a_viewer(viewer: User, spotify_app: SpotifyApp, fleet: list[Playlist]) -> None:
    rate_limit_set(kind="app", ident=str(spotify_app.pk), rate_per_second=0.5, burst=30, actor="test")
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Token {api_key_for(viewer)}")
    answer = api.get("/api/v1/playlists/capacity")
    assert answer.status_code == 200
    windows = _windows(answer.json(), spotify_app)
    assert windows["reshuffle_due_playlists"]["allowed"] == 30 + 1800
    assert windows["reshuffle_due_playlists"]["use_percent"] == round(100 * 8 / 1830, 1)
    page = client_for(viewer).get("/admin/playlists/playlist/capacity/")
    assert page.status_code == 200
    row = page.content.decode().split("<td>reshuffle_due_playlists</td>")[1].split("</tr>")[0]
    assert "<td>8</td><td>1830</td>" in row


def test_a_policy_edit_that_would_overflow_a_window_is_named_when_saved(
    superuser: User, spotify_app: SpotifyApp, make_account: Any
) -> None:
    account = make_account("capacity-edit", capacity=20)
    policy = PlaylistPolicyFactory(name="Growing", size=150, description_template="Fresh picks")
    # Twelve playlists due tonight and not on Spotify yet: a create (with its details) and two item writes each.
    for _ in range(12):
        PlaylistFactory(account=account, policy=policy, next_reshuffle_at=timezone.now() - timedelta(hours=1))
    rate_limit_set(kind="app", ident=str(spotify_app.pk), rate_per_second=0.01, burst=1, actor="test")
    assert services.fleet_capacity()["fits"] is True  # 36 calls a window, 37 allowed
    form = {
        "name": policy.name,
        "size": 500,  # five item writes instead of two: 72 calls
        "cooldown_days": policy.cooldown_days,
        "artist_cap": policy.artist_cap,
        "short_pool": policy.short_pool,
        "reshuffle_interval_days": policy.reshuffle_interval_days,
        "feature_ranges": "{}",
        "tracks_without_features_pass": "on",
        "source_filter": "{}",
        "name_template": policy.name_template,
        "description_template": policy.description_template,
    }
    response = client_for(superuser).post(f"/admin/playlists/playlistpolicy/{policy.pk}/change/", form, follow=True)
    assert response.status_code == 200
    policy.refresh_from_db()
    assert policy.size == 500
    shown = [str(m) for m in response.context["messages"] if str(m).startswith("Fleet capacity:")]
    assert [m.split(" from ")[0] for m in shown] == [
        f"Fleet capacity: {spotify_app.name}: reshuffle_due_playlists",
        f"Fleet capacity: {spotify_app.name}: ensure_playlist_for_account",
    ]
    assert all("needs 72 calls in 60 min; its limits allow 37 (app)" in m for m in shown)


def test_a_dry_run_shows_what_the_schedule_asks_of_the_same_app_meanwhile(
    operator: User, spotify_app: SpotifyApp, fleet: list[Playlist]
) -> None:
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Token {api_key_for(operator)}")
    body = {"mode": "playlists", "ids": [str(fleet[5].pk)], "dry_run": True}
    # At 04:40 UTC the nightly reshuffle's window (04:30 + 60 min) is open: its 8 calls share the app.
    day = timezone.now().date() + timedelta(days=1)
    with time_machine.travel(datetime(day.year, day.month, day.day, 4, 40, tzinfo=UTC), tick=False):
        [app] = api.post("/api/v1/playlists/reshuffle-bulk", body, format="json").json()["apps"]
        assert (app["app"], app["schedule_calls"], app["schedule_jobs"]) == (
            str(spotify_app.pk),
            _windows(services.fleet_capacity(), spotify_app)["reshuffle_due_playlists"]["calls"],
            ["reshuffle_due_playlists"],
        )
        assert app["schedule_calls"] == 8
    # At 03:00 no window of the schedule is open, and this work ends before one opens.
    with time_machine.travel(datetime(day.year, day.month, day.day, 3, 0, tzinfo=UTC), tick=False):
        [app] = api.post("/api/v1/playlists/reshuffle-bulk", body, format="json").json()["apps"]
        assert (app["schedule_calls"], app["schedule_jobs"]) == (0, [])
