"""The scheduled jobs' selections and summaries (the per-item work runs in test_tasks_worker)."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from django.utils import timezone

from accounts.models import SpotifyAccount
from playlists import selectors
from playlists.models import Playlist, PlaylistSnapshot
from playlists.services import playlist_build_snapshot
from playlists.tasks import build_playlist_snapshot, ensure_playlist_for_account, reshuffle_due_playlists
from tests.factories import PlaylistFactory, PlaylistPolicyFactory, make_catalog

pytestmark = pytest.mark.django_db


def test_snapshot_chunk_reports_short_playlists_and_skips_unknown_ones(offline_account: SpotifyAccount) -> None:
    make_catalog(artists=3, tracks_per_artist=4)
    small = PlaylistFactory(account=offline_account, policy=PlaylistPolicyFactory(size=20, artist_cap=2))
    fine = PlaylistFactory(account=offline_account, policy=PlaylistPolicyFactory(size=5, artist_cap=2))

    summary = build_playlist_snapshot(playlist_ids=[str(small.pk), str(fine.pk), str(uuid.uuid4())])

    assert summary["built"] == 2 and summary["skipped"] == 1 and summary["failed"] == []
    assert summary["short"] == [{"playlist_id": str(small.pk), "short_by": 14, "reason": summary["short"][0]["reason"]}]
    assert "12 tracks by 3 artists" in summary["short"][0]["reason"]
    assert PlaylistSnapshot.objects.count() == 2


def test_daily_snapshot_job_covers_playlists_without_a_snapshot_only(offline_account: SpotifyAccount, spotify_app) -> None:  # type: ignore[no-untyped-def]
    make_catalog(artists=30, tracks_per_artist=2)
    new = PlaylistFactory(account=offline_account, policy=PlaylistPolicyFactory(size=10))
    full = PlaylistFactory(account=offline_account, policy=PlaylistPolicyFactory(size=10))
    playlist_build_snapshot(playlist=full, actor="test")
    short = PlaylistFactory(account=offline_account, policy=PlaylistPolicyFactory(size=10, source_filter={"labels": ["none"]}))
    playlist_build_snapshot(playlist=short, actor="test")
    quarantined = SpotifyAccount.objects.create(app=spotify_app, display_name="Q", spotify_user_id="q", health="quarantined")
    PlaylistFactory(account=quarantined)

    assert set(selectors.playlists_needing_snapshot().values_list("pk", flat=True)) == {new.pk}
    assert build_playlist_snapshot() == {"playlists": 1, "chunks_queued": 1}


def test_sync_job_queues_only_playlists_out_of_sync(offline_account: SpotifyAccount) -> None:
    make_catalog(artists=30, tracks_per_artist=2)
    never = PlaylistFactory(account=offline_account)
    synced = PlaylistFactory(account=offline_account, spotify_playlist_id="sp1", sync_state=Playlist.SyncState.SYNCED)
    snapshot = playlist_build_snapshot(playlist=synced, actor="test")
    PlaylistSnapshot.objects.filter(pk=snapshot.pk).update(synced_at=timezone.now())
    Playlist.objects.filter(pk=synced.pk).update(sync_state=Playlist.SyncState.SYNCED)
    failed = PlaylistFactory(account=offline_account, spotify_playlist_id="sp2", sync_state=Playlist.SyncState.FAILED)

    assert set(selectors.playlists_needing_sync().values_list("pk", flat=True)) == {never.pk, failed.pk}
    assert ensure_playlist_for_account() == {"queued": 2}
    assert ensure_playlist_for_account(account_id=str(uuid.uuid4())) == {"queued": 0}


def test_due_job_orders_healthy_before_degraded_and_records_skips(offline_account: SpotifyAccount, spotify_app) -> None:  # type: ignore[no-untyped-def]
    past = timezone.now() - timedelta(hours=1)
    degraded = SpotifyAccount.objects.create(app=spotify_app, display_name="D", spotify_user_id="d", health="degraded")
    inactive = SpotifyAccount.objects.create(app=spotify_app, display_name="I", spotify_user_id="i", is_active=False)
    slow = PlaylistFactory(account=degraded, next_reshuffle_at=past - timedelta(days=1))
    quick = PlaylistFactory(account=offline_account, next_reshuffle_at=past)
    PlaylistFactory(account=inactive, next_reshuffle_at=past)
    PlaylistFactory(account=offline_account, next_reshuffle_at=timezone.now() + timedelta(days=1))

    from playlists.services import playlists_reshuffle_due

    selection = playlists_reshuffle_due(actor="test")
    assert selection["playlist_ids"] == [str(quick.pk), str(slow.pk)]
    assert selection["skipped"] == 1
    assert reshuffle_due_playlists() == {"due": 3, "skipped": 1, "queued": 2}
