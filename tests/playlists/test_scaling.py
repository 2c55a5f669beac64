"""Daily scaling plans for healthy / degraded / quarantined mixes, dry run and carried out."""

from __future__ import annotations

from typing import Any

import pytest

from accounts.models import SpotifyAccount, SpotifyApp
from playlists import services
from playlists.models import Playlist, PlaylistHistory
from tests.factories import PlaylistFactory, PlaylistPolicyFactory

pytestmark = pytest.mark.django_db

Health = SpotifyAccount.Health


def account(app: SpotifyApp, name: str, *, health: str = Health.OK, capacity: int = 5, active: bool = True,
            playlists: int = 0, policy: Any = None) -> SpotifyAccount:
    row = SpotifyAccount.objects.create(app=app, display_name=name, spotify_user_id=name, health=health,
                                        playlist_capacity=capacity, is_active=active)
    for n in range(playlists):
        PlaylistFactory(account=row, policy=policy or PlaylistPolicyFactory(), index=n + 1)
    return row


def active_count(row: SpotifyAccount) -> int:
    return Playlist.objects.filter(account=row, status=Playlist.Status.ACTIVE).count()


def row_of(plan: dict, acct: SpotifyAccount) -> dict:
    return next(r for r in plan["accounts"] if r["account_id"] == str(acct.pk))


def test_plan_fills_healthy_holds_degraded_and_moves_quarantined_load(spotify_app: SpotifyApp) -> None:
    chill = PlaylistPolicyFactory(name="Chill")
    healthy = account(spotify_app, "healthy", capacity=5, playlists=1)
    degraded = account(spotify_app, "degraded", health=Health.DEGRADED, capacity=5, playlists=2)
    quarantined = account(spotify_app, "quarantined", health=Health.QUARANTINED, playlists=2, policy=chill)
    reauth = account(spotify_app, "reauth", health=Health.REAUTH_REQUIRED, playlists=1, policy=chill)
    account(spotify_app, "inactive", active=False)

    plan = services.playlists_scale_daily(dry_run=True, actor="test")

    assert (row_of(plan, healthy)["target"], row_of(plan, healthy)["create"], row_of(plan, healthy)["moved_in"]) == (5, 4, 3)
    assert (row_of(plan, degraded)["target"], row_of(plan, degraded)["create"], row_of(plan, degraded)["retire"]) == (2, 0, 0)
    assert (row_of(plan, quarantined)["target"], row_of(plan, quarantined)["moved_out"]) == (0, 2)
    assert row_of(plan, reauth)["moved_out"] == 1
    assert plan["to_create"] == 4 and plan["to_retire"] == 3 and plan["unplaced"] == []
    # A dry run changes nothing.
    assert active_count(healthy) == 1 and active_count(quarantined) == 2
    assert not PlaylistHistory.objects.exists()

    done = services.playlists_scale_daily(dry_run=False, actor="test")

    assert done["created"] == 4 and done["retired"] == 3
    assert active_count(healthy) == 5 and active_count(degraded) == 2
    assert active_count(quarantined) == 0 and active_count(reauth) == 0
    # Moved playlists keep their policy on the new account, with history on both ends.
    assert Playlist.objects.filter(account=healthy, status="active", policy=chill).count() == 3
    assert PlaylistHistory.objects.filter(action="move").count() == 6
    assert PlaylistHistory.objects.filter(action="retire", playlist__account=quarantined).count() == 2

    again = services.playlists_scale_daily(dry_run=True, actor="test")
    assert again["to_create"] == 0 and again["to_retire"] == 0


def test_load_with_no_healthy_room_stays_and_is_reported_unplaced(spotify_app: SpotifyApp) -> None:
    account(spotify_app, "full", capacity=2, playlists=2)
    quarantined = account(spotify_app, "quarantined", health=Health.QUARANTINED, playlists=2)

    plan = services.playlists_scale_daily(dry_run=False, actor="test")

    assert len(plan["unplaced"]) == 2 and plan["retired"] == 0
    assert active_count(quarantined) == 2


def test_accounts_beyond_their_apps_user_cap_take_no_new_load(spotify_app: SpotifyApp) -> None:
    small = SpotifyApp.objects.create(name="small", client_id="small-client", client_secret="s", user_cap=1)
    first = account(small, "first", capacity=3)
    second = account(small, "second", capacity=3, playlists=1)

    plan = services.playlists_scale_daily(dry_run=True, actor="test")

    assert row_of(plan, first)["create"] == 3
    assert row_of(plan, second)["create"] == 0 and "user cap" in row_of(plan, second)["reason"]


def test_surplus_over_a_lowered_capacity_is_retired_newest_first(spotify_app: SpotifyApp, settings: Any) -> None:
    settings.PLAYLISTS_PER_ACCOUNT_MAX = 2
    busy = account(spotify_app, "busy", capacity=10, playlists=4)

    plan = services.playlists_scale_daily(dry_run=False, actor="test")

    assert row_of(plan, busy)["retire"] == 2 and plan["retired"] == 2
    assert sorted(Playlist.objects.filter(account=busy, status="active").values_list("index", flat=True)) == [1, 2]


def test_create_rejects_quarantined_and_full_accounts_with_field_errors(spotify_app: SpotifyApp) -> None:
    from django.core.exceptions import ValidationError

    quarantined = account(spotify_app, "q", health=Health.QUARANTINED)
    with pytest.raises(ValidationError) as raised:
        services.playlists_create(account=quarantined, count=1, actor="test")
    assert "account_id" in raised.value.message_dict

    full = account(spotify_app, "full", capacity=1, playlists=1)
    with pytest.raises(ValidationError) as raised:
        services.playlists_create(account=full, count=1, actor="test")
    assert "capacity" in raised.value.message_dict["count"][0]

    roomy = account(spotify_app, "roomy", capacity=3, playlists=1)
    created = services.playlists_create(account=roomy, count=2, actor="test")
    assert [p.index for p in created] == [2, 3]
    assert all(p.next_reshuffle_at is not None for p in created)


def test_demo_hook_tops_up_each_schedulable_account_once(spotify_app: SpotifyApp) -> None:
    from devstack.seed_playlists import demo_create_playlists

    first = account(spotify_app, "demo-a", playlists=1)
    second = account(spotify_app, "demo-b")
    account(spotify_app, "demo-q", health=Health.QUARANTINED)

    assert demo_create_playlists(per_account=3) == 5
    assert active_count(first) == 3 and active_count(second) == 3
    assert demo_create_playlists(per_account=3) == 0
