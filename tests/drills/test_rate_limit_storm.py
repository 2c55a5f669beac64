"""Drill: a 429 storm with a long Retry-After on one account (its own Spotify app).

The other accounts keep syncing; the stormed account's sync is parked (the task retries
with a countdown = Retry-After, no thread sleeps it out, no call hammers Spotify meanwhile)
and comes back when Spotify said to. Asserted by emulator call counts and the countdown.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest

from accounts.models import SpotifyApp
from jobs.models import JobRun
from playlists import services
from playlists.models import Playlist
from tests.factories import make_catalog

pytestmark = pytest.mark.slow

STORM_RETRY_AFTER = 6  # seconds; the tests' sleep ceiling (SPOTIFY_MAX_SLEEP_SECONDS) is 0.5


def test_a_429_storm_on_one_account_parks_its_sync_while_the_others_keep_syncing(
    spotify_emulator: Any, make_account: Callable[..., Any], start_celery_worker: Callable[..., Any]
) -> None:
    make_catalog(artists=40, tracks_per_artist=3)
    storm_app = SpotifyApp.objects.create(
        name="storm", client_id="storm-client", client_secret="storm-secret", mode=SpotifyApp.Mode.EXTENDED
    )
    stormed = make_account("storm-user", app=storm_app)
    calm = [make_account(f"calm-{n}") for n in range(3)]
    # Spotify's own per-app limit: one call per window, then 429 + Retry-After until it rolls.
    spotify_emulator.set_rate_limit("storm-client", 1, window_seconds=STORM_RETRY_AFTER)
    worker = start_celery_worker(concurrency=2)

    [parked] = services.playlists_create(account=stormed, count=1, actor="drill")
    others = [services.playlists_create(account=account, count=1, actor="drill")[0] for account in calm]

    def storm_run() -> JobRun | None:
        return JobRun.objects.filter(task_name="playlist_sync_one", kwargs__playlist_id=str(parked.pk), status="retrying").first()

    def others_synced() -> bool:
        return Playlist.objects.filter(pk__in=[p.pk for p in others], sync_state="synced").count() == len(others)

    retrying = worker.wait_until(storm_run, timeout=30)
    countdown = float(re.search(r"Retry in ([\d.]+)s", retrying.error).group(1))
    assert countdown >= STORM_RETRY_AFTER - 1, retrying.error
    worker.wait_until(others_synced, timeout=30)
    # The limit stays on: the parked sync comes back when Spotify said to, and one call then passes.
    worker.wait_until(lambda: Playlist.objects.filter(pk=parked.pk, sync_state="synced").exists(), timeout=STORM_RETRY_AFTER + 30)
    parked.refresh_from_db()
    assert all(p.last_synced_at < parked.last_synced_at for p in Playlist.objects.filter(pk__in=[o.pk for o in others])), (
        "the other accounts did not wait for the stormed one"
    )
    # Parked, not hammering: no retry loop, no early comeback (either would have earned more 429s).
    assert spotify_emulator.count("create_playlist") == 4, "the parked sync did not create its playlist twice"
    assert spotify_emulator.count("playlist_items_put") == 3 + 1 + 1, "3 calm syncs, the one 429, the resume"
    assert [len(p["uris"]) for p in spotify_emulator.playlists_of("storm-user")] == [50]
    finished = JobRun.objects.get(task_id=retrying.task_id)
    assert finished.status == "success"
