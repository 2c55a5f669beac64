"""Drift repair with snapshot_id (verify_playlists), freeze, and retire through /me/library."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from audit.models import AuditEvent
from core.counters import counter_total
from playlists import services
from playlists.models import Playlist, PlaylistHistory
from tests.factories import PlaylistFactory, PlaylistPolicyFactory, make_catalog

pytestmark = pytest.mark.django_db


@pytest.fixture
def synced(make_account: Any, spotify_emulator: Any) -> Playlist:
    """A playlist on Spotify, on the emulator's default app (Development Mode)."""
    make_catalog(artists=60, tracks_per_artist=3)
    account = make_account("verifier")
    playlist = PlaylistFactory(account=account, policy=PlaylistPolicyFactory(name="Drift"), index=1)
    services.playlist_sync(playlist=playlist, actor="test")
    playlist.refresh_from_db()
    spotify_emulator.reset_counts()
    return playlist


def drift_rows(playlist: Playlist) -> list[dict[str, Any]]:
    return list(playlist.history.filter(action=PlaylistHistory.Action.DRIFT_REPAIRED).values_list("details", flat=True))


def test_sync_stores_spotifys_snapshot_id(synced: Playlist, spotify_emulator: Any) -> None:
    assert synced.spotify_snapshot_id == spotify_emulator.playlist(synced.spotify_playlist_id)["snapshot_id"]


def test_an_unchanged_playlist_costs_one_get_and_changes_nothing(synced: Playlist, spotify_emulator: Any) -> None:
    summary = services.playlists_verify(actor="test")
    assert (summary["checked"], summary["drift_found"]) == (1, 0)
    assert spotify_emulator.counts() == {"library_contains": 1, "playlist_get": 1}
    assert drift_rows(synced) == []


def test_drift_in_items_is_repaired_once_with_one_history_row(synced: Playlist, spotify_emulator: Any) -> None:
    expected = spotify_emulator.playlist(synced.spotify_playlist_id)["uris"]
    spotify_emulator.edit_playlist(synced.spotify_playlist_id, uris=expected[:2])

    assert services.playlists_verify(actor="test")["repaired"] == 1
    assert services.playlists_verify(actor="test")["repaired"] == 0

    assert spotify_emulator.playlist(synced.spotify_playlist_id)["uris"] == expected
    assert [row["differed"] for row in drift_rows(synced)] == [["items"]]
    assert counter_total("playlist_drift_found_total") == counter_total("playlist_drift_repaired_total") == 1


def test_drift_in_name_is_repaired_without_reading_the_items(synced: Playlist, spotify_emulator: Any) -> None:
    spotify_emulator.edit_playlist(synced.spotify_playlist_id, name="Renamed by hand")

    services.playlists_verify(actor="test")
    services.playlists_verify(actor="test")

    assert spotify_emulator.playlist(synced.spotify_playlist_id)["name"] == synced.name
    assert [row["differed"] for row in drift_rows(synced)] == [["name"]]
    assert spotify_emulator.count("playlist_items_get") == 0


@pytest.mark.parametrize("how", ["deleted", "unfollowed"])
def test_a_playlist_gone_on_spotify_is_recreated_once_and_audited(synced: Playlist, spotify_emulator: Any, how: str) -> None:
    old_id = synced.spotify_playlist_id
    if how == "deleted":
        spotify_emulator.edit_playlist(old_id, deleted=True)
    else:
        spotify_emulator.edit_playlist(old_id, followed=False)

    services.playlists_verify(actor="test")
    services.playlists_verify(actor="test")

    synced.refresh_from_db()
    assert synced.spotify_playlist_id not in ("", old_id)
    assert [p["id"] for p in spotify_emulator.playlists_of("verifier")] == [synced.spotify_playlist_id]
    assert spotify_emulator.count("create_playlist") == 1
    assert [row["differed"] for row in drift_rows(synced)] == [[how]]
    assert AuditEvent.objects.filter(action="playlist.recreate").count() == 1


def test_by_policy_a_playlist_deleted_on_spotify_is_retired(synced: Playlist, spotify_emulator: Any, settings: Any) -> None:
    settings.PLAYLIST_DELETED_ON_SPOTIFY = "retire"
    spotify_emulator.edit_playlist(synced.spotify_playlist_id, deleted=True)
    assert services.playlists_verify(actor="test")["retired"] == 1
    synced.refresh_from_db()
    assert synced.status == Playlist.Status.RETIRED
    assert spotify_emulator.count("create_playlist") == 0


def test_a_frozen_playlist_is_untouched_but_still_listed(synced: Playlist, spotify_emulator: Any, operator: Any) -> None:
    from tests.fixtures_clients import token_client

    client = token_client(operator)
    answer = client.post(f"/api/v1/playlists/{synced.pk}/frozen", {"frozen": True}, format="json")
    assert answer.status_code == 200 and answer.json()["frozen"] is True
    spotify_emulator.edit_playlist(synced.spotify_playlist_id, name="Curated by hand", uris=[])

    assert services.playlists_verify(actor="test")["checked"] == 0
    assert services.playlist_reshuffle(playlist=synced, actor="test")["skipped"] == "frozen"

    on_spotify = spotify_emulator.playlist(synced.spotify_playlist_id)
    assert (on_spotify["name"], on_spotify["uris"]) == ("Curated by hand", [])
    assert spotify_emulator.count("playlist_details") == spotify_emulator.count("playlist_items_put") == 0
    assert str(synced.pk) in {row["id"] for row in client.get("/api/v1/playlists").json()["results"]}
    assert AuditEvent.objects.filter(action="playlist.freeze").count() == 1


def test_retire_on_a_development_mode_app_goes_through_me_library(synced: Playlist, spotify_emulator: Any) -> None:
    services.playlist_retire(playlist=synced, actor="test", queue_unfollow=False)
    assert services.playlist_unfollow(playlist=synced, actor="test")["unfollowed"]
    assert spotify_emulator.playlists_of("verifier") == []
    assert (spotify_emulator.count("library_remove"), spotify_emulator.count("playlist_unfollow")) == (1, 0)


def test_a_refused_removal_is_a_failed_history_row_never_done(synced: Playlist, spotify_emulator: Any) -> None:
    from spotify import SpotifyForbidden

    services.playlist_retire(playlist=synced, actor="test", queue_unfollow=False)
    spotify_emulator.fault("library_remove", status=403, times=1)
    with pytest.raises(SpotifyForbidden):
        services.playlist_unfollow(playlist=synced, actor="test")
    assert synced.history.filter(action=PlaylistHistory.Action.FAIL, details__operation="unfollow").count() == 1
    assert not synced.history.filter(details__unfollowed=True).exists()
    assert services.playlist_unfollow(playlist=synced, actor="test")["unfollowed"]


def test_many_retired_playlists_take_one_call_per_forty(make_account: Any, spotify_emulator: Any) -> None:
    make_catalog(artists=30, tracks_per_artist=2)
    account = make_account("many")
    policy = PlaylistPolicyFactory(name="Many", size=3)
    playlists = [PlaylistFactory(account=account, policy=policy, index=i) for i in range(1, 42)]
    for playlist in playlists:
        services.playlist_sync(playlist=playlist, actor="test")
        services.playlist_retire(playlist=playlist, actor="test", queue_unfollow=False)
    spotify_emulator.reset_counts()

    result = services.playlists_unfollow(playlist_ids=[str(p.pk) for p in playlists], actor="test")

    assert (len(result["unfollowed"]), result["calls"], spotify_emulator.count("library_remove")) == (41, 2, 2)
    assert spotify_emulator.playlists_of("many") == []


def test_a_playlist_recreated_while_a_run_checks_its_old_id_is_not_recreated_again(
    synced: Playlist, spotify_emulator: Any, monkeypatch: Any
) -> None:
    """Found by the chaos soak: a verify run asks Spotify about a batch of playlists first; one of
    them, deleted by its owner, was recreated by a reshuffle meanwhile; the run took the old id's
    "not in the library" for the new playlist and created a second copy of it."""
    from playlists.services import verify

    listed = verify.playlists_to_verify()  # what a run holds: the old Spotify id
    old_id = synced.spotify_playlist_id
    spotify_emulator.edit_playlist(old_id, deleted=True)
    services.playlist_reshuffle(playlist=synced, actor="test")  # 404 on the write: recreated once
    synced.refresh_from_db()
    assert synced.spotify_playlist_id not in ("", old_id)
    monkeypatch.setattr(verify, "playlists_to_verify", lambda limit=None: listed)

    services.playlists_verify(actor="test")

    assert [p["id"] for p in spotify_emulator.playlists_of("verifier")] == [synced.spotify_playlist_id]
    assert spotify_emulator.count("create_playlist") == 1
    assert drift_rows(synced) == []


def test_an_app_rate_limited_for_hours_does_not_keep_the_other_apps_playlists_unverified(
    synced: Playlist, make_account: Any, spotify_emulator: Any
) -> None:
    """Found by the chaos soak: one app's hours-long Retry-After stopped the whole run, and a
    playlist its owner had deleted, on another app, stayed gone."""
    from accounts.models import SpotifyApp
    from spotify.ratelimit import bucket_block

    other_app = SpotifyApp.objects.create(name="Other", client_id="verify-other-app", client_secret="s", user_cap=5)
    other = PlaylistFactory(account=make_account("elsewhere", app=other_app), policy=synced.policy, index=1)
    services.playlist_sync(playlist=other, actor="test")
    other.refresh_from_db()
    spotify_emulator.edit_playlist(other.spotify_playlist_id, followed=False)
    # The first app's window is spent for two hours; its accounts come first in the run.
    bucket_block("app", str(synced.account.app_id), 7200)

    summary = services.playlists_verify(actor="test")

    assert list(summary["rate_limited_apps"]) == [str(synced.account.app_id)]
    assert summary["recreated"] == 1 and "stopped" not in summary
    other.refresh_from_db()
    assert [p["id"] for p in spotify_emulator.playlists_of("elsewhere")] == [other.spotify_playlist_id]


def test_an_account_whose_access_was_revoked_is_flagged_and_the_others_playlists_are_still_verified(
    synced: Playlist, make_account: Any, spotify_emulator: Any, caplog: Any
) -> None:
    """Found by the chaos soak: an owner removed the console's access on Spotify (every call 401,
    the refresh invalid_grant); verify_playlists raised on that account and stopped, a playlist
    of another account, deleted on Spotify's side, left gone."""
    from accounts.models import SpotifyAccount
    from jobs.models import JobRun
    from playlists.tasks import verify_playlists

    healthy = PlaylistFactory(account=make_account("still-here"), policy=synced.policy, index=1)
    services.playlist_sync(playlist=healthy, actor="test")
    healthy.refresh_from_db()
    old_id = healthy.spotify_playlist_id
    spotify_emulator.edit_playlist(old_id, deleted=True)
    spotify_emulator.revoke_user("verifier")
    # The revoked account's playlist is the longer unverified: its account is reached first.
    Playlist.objects.filter(pk=synced.pk).update(last_verified_at=timezone.now() - timedelta(days=1))
    Playlist.objects.filter(pk=healthy.pk).update(last_verified_at=timezone.now())

    run = verify_playlists.apply(kwargs={"actor": "test"})

    job_run = JobRun.objects.get(task_id=run.id)
    assert job_run.status == JobRun.Status.SUCCESS, job_run.error
    assert job_run.summary["recreated"] == 1
    assert job_run.summary["skipped_accounts"] == {str(synced.account_id): "account needs re-authorization"}
    healthy.refresh_from_db()
    assert healthy.spotify_playlist_id not in ("", old_id)
    assert [p["id"] for p in spotify_emulator.playlists_of("still-here")] == [healthy.spotify_playlist_id]
    revoked = SpotifyAccount.objects.get(pk=synced.account_id)
    assert revoked.health == SpotifyAccount.Health.REAUTH_REQUIRED
    assert "invalid_grant" in revoked.health_reason
    skips = synced.history.filter(action=PlaylistHistory.Action.SKIP, details__operation="verify")
    assert [row["reason"] for row in skips.values_list("details", flat=True)] == ["account needs re-authorization"]
    # An expected case: no traceback in the logs (spotipy's own one-line 401 and 404 are not).
    assert [r.getMessage() for r in caplog.records if r.exc_info] == []


def test_a_run_delivered_again_frees_the_lock_its_killed_run_left_on_a_playlist_it_does_not_revisit(
    synced: Playlist, make_account: Any
) -> None:
    """Found by the chaos soak: a verify run killed holding one playlist's lock came back under the
    same task id, ended before it reached that playlist again, and the lock stayed held to its TTL
    (the playlist's syncs and reshuffles retrying on it meanwhile)."""
    from core.redis import get_redis, key
    from playlists.tasks import verify_playlists

    left_behind = PlaylistFactory(account=make_account("frozen-owner"), index=1, frozen=True)
    others = PlaylistFactory(account=left_behind.account, index=2, frozen=True)
    redis = get_redis()
    # What the killed run (task id "verify-run-1") left, and a lock another run holds.
    redis.set(key("lock", f"playlist-sync:{left_behind.pk}"), "verify-run-1", ex=390)
    redis.set(key("lock", f"playlist-sync:{others.pk}"), "another-run", ex=390)

    summary = verify_playlists.apply(task_id="verify-run-1").get()

    assert summary["checked"] == 1  # the synced playlist; frozen ones are not verified
    assert redis.get(key("lock", f"playlist-sync:{left_behind.pk}")) is None
    assert redis.get(key("lock", f"playlist-sync:{others.pk}")) == "another-run"
