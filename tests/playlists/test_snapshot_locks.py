"""A snapshot build locks its playlist's row and nothing else: builds of playlists that share a
policy run side by side (bench.nightly found two workers of the nightly run waiting on, and
deadlocking over, the policy rows their builds had locked too)."""

from __future__ import annotations

import threading

import pytest
from django.db import connection, transaction

from playlists.services import playlist_build_snapshot
from tests.factories import PlaylistFactory, PlaylistPolicyFactory, SpotifyAccountFactory, make_catalog

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_build_held_open_does_not_block_another_playlist_of_the_same_policy() -> None:
    make_catalog(artists=40, tracks_per_artist=3)
    policy = PlaylistPolicyFactory(name="Shared", size=20)
    account = SpotifyAccountFactory()
    first, second = PlaylistFactory(account=account, policy=policy), PlaylistFactory(account=account, policy=policy)
    held, release = threading.Event(), threading.Event()
    errors: list[BaseException] = []

    def hold_first() -> None:
        # A worker's batch: its transaction stays open until the whole chunk is built.
        try:
            with transaction.atomic():
                playlist_build_snapshot(playlist=first, actor="worker-1")
                held.set()
                release.wait(30)
        except BaseException as exc:  # noqa: BLE001 - reported to the test below
            errors.append(exc)
        finally:
            connection.close()

    worker = threading.Thread(target=hold_first)
    worker.start()
    try:
        assert held.wait(30)
        with transaction.atomic():
            with connection.cursor() as cursor:
                # Waiting for the other worker's lock would fail here instead of hanging.
                cursor.execute("SET LOCAL lock_timeout = '3s'")
            snapshot = playlist_build_snapshot(playlist=second, actor="worker-2")
    finally:
        release.set()
        worker.join(30)
    assert errors == []
    assert (snapshot.playlist_id, snapshot.track_count) == (second.pk, 20)
    first.refresh_from_db()
    assert first.current_snapshot_id is not None
