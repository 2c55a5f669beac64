"""Sync through the emulator over real HTTP: call counts, idempotency, crash recovery, locking."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from django.db import connection

from accounts.models import SpotifyAccount
from core.counters import counter_total
from core.locks import LockBusy, redis_lock
from playlists import services
from playlists.models import Playlist, PlaylistHistory
from playlists.services.common import account_spotify_client
from playlists.tasks import _retry_countdown
from spotify import SpotifyAuthError, SpotifyRateLimited
from tests.factories import PlaylistFactory, PlaylistPolicyFactory, make_catalog

pytestmark = pytest.mark.django_db

WRITES = ("create_playlist", "playlist_details", "playlist_items_put", "playlist_items_post", "playlist_unfollow")


def writes(emu: Any) -> dict[str, int]:
    counts = emu.counts()
    return {name: counts.get(name, 0) for name in WRITES if counts.get(name, 0)}


@pytest.fixture
def playlist(make_account: Any) -> Playlist:
    make_catalog(artists=60, tracks_per_artist=3)
    account = make_account("synca")
    policy = PlaylistPolicyFactory(
        name="Focus",
        name_template="{{ policy.name }} #{{ index }}",
        description_template="Top: {{ top_artists|join:', ' }} ({{ date|date:'Y-m-d' }})",
    )
    return PlaylistFactory(account=account, policy=policy, index=3)


def test_first_sync_creates_with_one_create_and_one_replace_then_nothing(spotify_emulator: Any, playlist: Playlist) -> None:
    result = services.playlist_sync(playlist=playlist, actor="test")

    assert writes(spotify_emulator) == {"create_playlist": 1, "playlist_items_put": 1}
    playlist.refresh_from_db()
    on_spotify = spotify_emulator.playlist(playlist.spotify_playlist_id)
    assert result["created"] and result["write_calls"] == 2
    assert on_spotify["name"] == "Focus #3"
    assert on_spotify["description"].startswith("Top: ") and on_spotify["description"].endswith(f"[ops:{playlist.pk}]")
    assert len(on_spotify["uris"]) == 50
    assert on_spotify["uris"] == [
        f"spotify:track:{t}" for t in playlist.current_snapshot.items.values_list("track__spotify_id", flat=True)
    ]
    assert playlist.sync_state == Playlist.SyncState.SYNCED and playlist.current_snapshot.synced_at is not None
    assert counter_total("playlists_created_total") == 1
    assert list(PlaylistHistory.objects.filter(playlist=playlist).order_by("id").values_list("action", flat=True)) == [
        "snapshot",
        "create",
        "sync",
    ]

    spotify_emulator.reset_counts()
    again = services.playlist_sync(playlist=playlist, actor="test")
    assert again["write_calls"] == 0 and writes(spotify_emulator) == {}
    assert spotify_emulator.count("create_playlist") == 0


def test_reshuffle_replaces_items_with_one_call_and_moves_next_reshuffle(spotify_emulator: Any, playlist: Playlist) -> None:
    services.playlist_sync(playlist=playlist, actor="test")
    playlist.refresh_from_db()
    before = spotify_emulator.playlist(playlist.spotify_playlist_id)["uris"]
    spotify_emulator.reset_counts()

    result = services.playlist_reshuffle(playlist=playlist, actor="test")

    after = spotify_emulator.playlist(playlist.spotify_playlist_id)["uris"]
    assert result["reshuffled"] and not set(before) & set(after)  # cooldown: none of the last 50 return
    assert writes(spotify_emulator).get("playlist_items_put") == 1
    assert "create_playlist" not in writes(spotify_emulator)
    playlist.refresh_from_db()
    assert playlist.next_reshuffle_at is not None
    assert counter_total("reshuffles_total") == 1


def test_a_run_delivered_again_after_it_reshuffled_returns_what_it_did_and_reshuffles_once(
    spotify_emulator: Any, playlist: Playlist
) -> None:
    """Its process lost after the commit, before the ack: the message comes back under the same task id."""
    services.playlist_sync(playlist=playlist, actor="test")
    first = services.playlist_reshuffle(playlist=playlist, actor="api:ops", lock_owner="task-1")
    spotify_emulator.reset_counts()

    again = services.playlist_reshuffle(playlist=playlist, actor="api:ops", lock_owner="task-1")

    assert again["reshuffled"] and again["snapshot_id"] == first["snapshot_id"]
    assert again["next_reshuffle_at"] == first["next_reshuffle_at"]
    assert writes(spotify_emulator) == {}
    assert PlaylistHistory.objects.filter(playlist=playlist, action="reshuffle").count() == 1
    assert counter_total("reshuffles_total") == 1
    # Another run asking for a reshuffle of the same playlist still gets one.
    other = services.playlist_reshuffle(playlist=playlist, actor="api:ops", lock_owner="task-2")
    assert other["snapshot_id"] != first["snapshot_id"]
    assert PlaylistHistory.objects.filter(playlist=playlist, action="reshuffle").count() == 2


def test_changed_template_changes_details_only(spotify_emulator: Any, playlist: Playlist) -> None:
    services.playlist_sync(playlist=playlist, actor="test")
    playlist.policy.name_template = "Deep {{ policy.name }} {{ index }}"
    playlist.policy.save()
    spotify_emulator.reset_counts()

    result = services.playlist_sync(playlist=playlist, actor="test")

    assert writes(spotify_emulator) == {"playlist_details": 1}
    assert result["renamed"] == ["name"]
    playlist.refresh_from_db()
    assert spotify_emulator.playlist(playlist.spotify_playlist_id)["name"] == "Deep Focus 3"
    assert PlaylistHistory.objects.filter(playlist=playlist, action="rename").get().details["name_from"] == "Focus #3"


def test_retry_after_crash_between_create_and_save_makes_no_second_playlist(spotify_emulator: Any, playlist: Playlist) -> None:
    services.playlist_sync(playlist=playlist, actor="test")
    playlist.refresh_from_db()
    created_id = playlist.spotify_playlist_id
    # What a worker killed right after Spotify answered leaves behind: the intent, not the id.
    Playlist.objects.filter(pk=playlist.pk).update(spotify_playlist_id="", sync_state=Playlist.SyncState.PENDING)
    spotify_emulator.reset_counts()

    result = services.playlist_sync(playlist=playlist, actor="test")

    playlist.refresh_from_db()
    assert result["adopted"] and not result["created"]
    assert playlist.spotify_playlist_id == created_id
    assert spotify_emulator.count("create_playlist") == 0
    assert len(spotify_emulator.playlists_of("synca")) == 1
    assert writes(spotify_emulator) == {}  # Spotify already shows the right items and details


def test_playlist_deleted_on_spotify_is_created_again(spotify_emulator: Any, playlist: Playlist) -> None:
    services.playlist_sync(playlist=playlist, actor="test")
    playlist.refresh_from_db()
    old_id = playlist.spotify_playlist_id
    spotify_emulator.reset()  # Spotify forgot it (and the user: re-create the user's token)
    spotify_emulator_user = spotify_emulator.create_user("synca", client_id=playlist.account.app.client_id)
    SpotifyAccount.objects.filter(pk=playlist.account_id).update(
        refresh_token=spotify_emulator_user["refresh_token"], token_expires_at=None
    )
    playlist = Playlist.objects.get(pk=playlist.pk)

    result = services.playlist_sync(playlist=playlist, actor="test", verify=True)

    playlist.refresh_from_db()
    assert result["created"] and playlist.spotify_playlist_id != old_id
    assert len(spotify_emulator.playlist(playlist.spotify_playlist_id)["uris"]) == 50


def test_sync_of_a_playlist_held_by_another_worker_raises_lock_busy(spotify_emulator: Any, playlist: Playlist) -> None:
    with redis_lock(f"playlist-sync:{playlist.pk}"):
        with pytest.raises(LockBusy):
            services.playlist_sync(playlist=playlist, actor="test")
        with pytest.raises(LockBusy):
            services.playlist_reshuffle(playlist=playlist, actor="test")
    assert spotify_emulator.counts().get("create_playlist", 0) == 0
    assert isinstance(_retry_countdown(LockBusy("x"), 0), float)


@pytest.mark.django_db(transaction=True)
def test_concurrent_syncs_of_one_playlist_serialize(spotify_emulator: Any, make_account: Any) -> None:
    make_catalog(artists=30, tracks_per_artist=2)
    playlist = PlaylistFactory(account=make_account("racer"), policy=PlaylistPolicyFactory())
    services.playlist_build_snapshot(playlist=playlist, actor="test")
    # The create call takes a while, so both threads are inside sync at the same time.
    spotify_emulator.fault("create_playlist", status=None, latency=0.5, times=2)
    outcomes: list[str] = []
    start = threading.Barrier(2)

    def run() -> None:
        start.wait()
        try:
            services.playlist_sync(playlist=playlist, actor="test")
            outcomes.append("synced")
        except LockBusy:
            outcomes.append("busy")
        finally:
            connection.close()

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(outcomes) == ["busy", "synced"]
    assert spotify_emulator.count("create_playlist") == 1
    assert len(spotify_emulator.playlists_of("racer")) == 1


def test_rate_limit_is_recorded_and_retried_after_retry_after(spotify_emulator: Any, playlist: Playlist) -> None:
    services.playlist_build_snapshot(playlist=playlist, actor="test")
    spotify_emulator.fault("create_playlist", status=429, retry_after=120)

    with pytest.raises(SpotifyRateLimited) as raised:
        services.playlist_sync(playlist=playlist, actor="test")

    playlist.refresh_from_db()
    assert playlist.sync_error.startswith("retrying:")
    assert playlist.sync_state != Playlist.SyncState.FAILED
    assert _retry_countdown(raised.value, 0) == pytest.approx(120, abs=1)


def test_revoked_token_sends_the_account_to_reauth_and_fails_the_sync(spotify_emulator: Any, playlist: Playlist) -> None:
    services.playlist_build_snapshot(playlist=playlist, actor="test")
    spotify_emulator.revoke(playlist.account.refresh_token)
    spotify_emulator.expire_access_tokens()
    SpotifyAccount.objects.filter(pk=playlist.account_id).update(token_expires_at=None)

    with pytest.raises(SpotifyAuthError):
        services.playlist_sync(playlist=playlist, actor="test")

    playlist.refresh_from_db()
    playlist.account.refresh_from_db()
    assert playlist.account.health == SpotifyAccount.Health.REAUTH_REQUIRED
    assert playlist.sync_state == Playlist.SyncState.FAILED
    assert _retry_countdown(SpotifyAuthError("x", status=401, endpoint="me"), 0) is None


def test_quarantined_account_is_skipped_with_a_history_row(spotify_emulator: Any, playlist: Playlist) -> None:
    SpotifyAccount.objects.filter(pk=playlist.account_id).update(
        health=SpotifyAccount.Health.QUARANTINED, health_reason="too many 5xx"
    )
    playlist = Playlist.objects.get(pk=playlist.pk)

    result = services.playlist_sync(playlist=playlist, actor="test")

    assert result["skipped"].startswith("account quarantined")
    assert sum(spotify_emulator.counts().values()) == 0
    assert PlaylistHistory.objects.get(playlist=playlist, action="skip").details["operation"] == "sync"


def test_retire_then_unfollow_keeps_history(
    spotify_emulator: Any, playlist: Playlist, django_capture_on_commit_callbacks: Any
) -> None:
    services.playlist_sync(playlist=playlist, actor="test")
    playlist.refresh_from_db()
    with django_capture_on_commit_callbacks() as callbacks:
        assert services.playlist_retire(playlist=playlist, actor="test", reason="surplus")
    assert len(callbacks) == 1  # the unfollow task, queued on commit
    assert not services.playlist_retire(playlist=playlist, actor="test")

    result = services.playlist_unfollow(playlist=playlist, actor="test")

    assert result["unfollowed"]
    assert spotify_emulator.playlists_of("synca") == []
    assert services.playlist_unfollow(playlist=playlist, actor="test")["skipped"] == "already unfollowed"
    # The owner's "delete" goes through /me/library (the followers endpoint is refused to
    # Development Mode apps, the emulator's default).
    assert (spotify_emulator.count("library_remove"), spotify_emulator.count("playlist_unfollow")) == (1, 0)
    assert PlaylistHistory.objects.filter(playlist=playlist).count() >= 4


def test_invalid_template_saved_around_validation_fails_the_playlist_not_the_worker(
    spotify_emulator: Any, playlist: Playlist
) -> None:
    type(playlist.policy).objects.filter(pk=playlist.policy_id).update(name_template="{% if %}")
    playlist = Playlist.objects.get(pk=playlist.pk)

    result = services.playlist_sync(playlist=playlist, actor="test")

    playlist.refresh_from_db()
    assert "invalid template" in result["failed"]
    assert playlist.sync_state == Playlist.SyncState.FAILED and "invalid template" in playlist.sync_error
    assert spotify_emulator.counts().get("create_playlist", 0) == 0


def test_sync_now_with_verify_repairs_drift_on_spotify_and_reads_only_when_in_sync(
    spotify_emulator: Any, playlist: Playlist
) -> None:
    services.playlist_sync(playlist=playlist, actor="test")
    playlist.refresh_from_db()
    spotify_emulator.reset_counts()

    in_sync = services.playlist_sync(playlist=playlist, actor="test", verify=True)
    assert in_sync["write_calls"] == 0 and writes(spotify_emulator) == {}
    assert spotify_emulator.count("playlist_get") == 1 and spotify_emulator.count("playlist_items_get") >= 1

    # Someone edits the playlist in the Spotify app: verify notices and puts the snapshot back.
    client = account_spotify_client(playlist.account)
    expected = spotify_emulator.playlist(playlist.spotify_playlist_id)["uris"]
    client.replace_playlist_items(playlist.spotify_playlist_id, expected[:5])
    client.change_playlist_details(playlist.spotify_playlist_id, name="My own name")
    spotify_emulator.reset_counts()

    repaired = services.playlist_sync(playlist=playlist, actor="test", verify=True)

    assert repaired["items_replaced"] and repaired["renamed"] == ["name"]
    assert writes(spotify_emulator) == {"playlist_details": 1, "playlist_items_put": 1}
    on_spotify = spotify_emulator.playlist(playlist.spotify_playlist_id)
    assert on_spotify["uris"] == expected and on_spotify["name"] == "Focus #3"
