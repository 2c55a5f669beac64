"""Spotify calls against the minimum for drift verification and for retire, per app mode.

`verify_playlists` on unchanged playlists: one `GET /v1/playlists/{id}?fields=...` each, plus one
`GET /v1/me/library/contains` per 40 playlists of an account (Spotify still serves a playlist its
owner deleted, so only the library says it is gone). Retire: one `DELETE /v1/me/library` per 40
playlists of an account. Each mode gets its own app and BENCH_DRIFT_ACCOUNTS accounts of
BENCH_DRIFT_PLAYLISTS playlists each; the playlists are created and synced on an in-process
emulator first (not counted). Runs inside the rolled-back transaction of bench/__main__.py.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from bench.playlists import _emulator

ACCOUNTS = int(os.environ.get("BENCH_DRIFT_ACCOUNTS", "2"))
# A multiple of 40 keeps the per-playlist minimum exactly 1 + 1/40.
PLAYLISTS_PER_ACCOUNT = int(os.environ.get("BENCH_DRIFT_PLAYLISTS", "200"))
MODES = ("development", "extended")
# The token endpoint is the accounts service, not the Web API; reported apart.
NOT_WEB_API = ("token",)


@contextmanager
def _fleet_set_aside() -> Iterator[None]:
    """The fleet's playlists carry made-up Spotify ids on accounts the emulator does not know:
    frozen for the case (the transaction is rolled back), so verify sees only the case's own."""
    from playlists.models import Playlist

    Playlist.objects.filter(frozen=False).update(frozen=True)
    yield


def _accounts(emulator: Any, *, mode: str) -> list[Any]:
    from accounts.models import SpotifyApp
    from accounts.services import account_onboard
    from playlists.models import Playlist
    from playlists.services import playlist_sync, playlists_create

    client_id = f"bench-drift-{mode}"
    app, _ = SpotifyApp.objects.update_or_create(
        name=client_id,
        defaults={
            "client_id": client_id,
            "client_secret": "bench-secret",
            "mode": mode,
            "user_cap": 5 if mode == "development" else 1000,
        },
    )
    emulator.set_app_mode(client_id, mode)
    accounts = []
    stamp = int(time.time() * 1000)
    for n in range(ACCOUNTS):
        user_id = f"{client_id}-{stamp}-{n}"
        user = emulator.create_user(user_id, client_id=client_id)
        account = account_onboard(app=app, spotify_user_id=user_id, display_name=user_id, refresh_token=user["refresh_token"])
        account.playlist_capacity = PLAYLISTS_PER_ACCOUNT
        account.save(update_fields=["playlist_capacity"])
        for playlist in playlists_create(account=account, count=PLAYLISTS_PER_ACCOUNT, actor="bench", queue_sync=False):
            playlist_sync(playlist=playlist, actor="bench")
        if Playlist.objects.filter(account=account, spotify_playlist_id="").exists():
            raise RuntimeError(f"{user_id}: not every playlist was created on Spotify")
        accounts.append(account)
    return accounts


def _calls(emulator: Any) -> dict[str, int]:
    return {name: count for name, count in sorted(emulator.counts().items()) if count and name not in NOT_WEB_API}


@contextmanager
def _buckets_wide_open() -> Iterator[None]:
    """The figure is calls, not time: our token buckets (5 calls/s per account) would only make
    the set-up (two calls per playlist) wait."""
    from django.test import override_settings

    wide = 1_000_000
    with override_settings(
        SPOTIFY_ACCOUNT_RATE_PER_SECOND=wide, SPOTIFY_ACCOUNT_BURST=wide, SPOTIFY_APP_RATE_PER_SECOND=wide, SPOTIFY_APP_BURST=wide
    ):
        yield


def _per_mode(run: Callable[[Any, str], dict[str, Any]]) -> dict[str, Any]:
    with _fleet_set_aside(), _buckets_wide_open(), _emulator() as emulator:
        return {mode: run(emulator, mode) for mode in MODES}


def _verify(emulator: Any, mode: str) -> dict[str, Any]:
    from playlists.services import playlists_verify

    accounts = _accounts(emulator, mode=mode)
    playlists = len(accounts) * PLAYLISTS_PER_ACCOUNT
    emulator.reset_counts()
    started = time.perf_counter()
    summary = playlists_verify(actor="bench", limit=playlists)
    seconds = time.perf_counter() - started
    calls = _calls(emulator)
    minimum = {"playlist_get": playlists, "library_contains": len(accounts) * math.ceil(PLAYLISTS_PER_ACCOUNT / 40)}
    made, least = sum(calls.values()), sum(minimum.values())
    return {
        "accounts": len(accounts),
        "playlists": playlists,
        "checked": summary["checked"],
        "drift_found": summary["drift_found"],
        "spotify_calls": calls,
        "spotify_calls_total": made,
        "minimum_calls": minimum,
        "minimum_calls_total": least,
        "calls_per_playlist": round(made / playlists, 4),
        "minimum_calls_per_playlist": round(least / playlists, 4),
        "ratio": round(made / least, 2),
        "token_calls": emulator.counts().get("token", 0),
        "seconds": round(seconds, 2),
    }


def _retire(emulator: Any, mode: str) -> dict[str, Any]:
    from playlists.models import Playlist
    from playlists.services import playlist_retire, playlists_unfollow

    accounts = _accounts(emulator, mode=mode)
    playlists = list(Playlist.objects.filter(account__in=accounts))
    for playlist in playlists:
        playlist_retire(playlist=playlist, actor="bench", reason="bench", queue_unfollow=False)
    emulator.reset_counts()
    started = time.perf_counter()
    result = playlists_unfollow(playlist_ids=[str(p.pk) for p in playlists], actor="bench")
    seconds = time.perf_counter() - started
    calls = _calls(emulator)
    minimum = {"library_remove": len(accounts) * math.ceil(PLAYLISTS_PER_ACCOUNT / 40)}
    still_followed = sum(bool(emulator.playlist(p.spotify_playlist_id)["followed"]) for p in playlists)
    made, least = sum(calls.values()), sum(minimum.values())
    return {
        "accounts": len(accounts),
        "playlists": len(playlists),
        "unfollowed": len(result["unfollowed"]),
        "still_in_library_after": still_followed,
        "spotify_calls": calls,
        "spotify_calls_total": made,
        "minimum_calls": minimum,
        "minimum_calls_total": least,
        "ratio": round(made / least, 2),
        "token_calls": emulator.counts().get("token", 0),
        "seconds": round(seconds, 2),
    }


def case_verify_calls() -> dict[str, Any]:
    """verify_playlists on unchanged playlists: calls against N GETs + ceil(n/40) contains per account."""
    return _per_mode(_verify)


def case_retire_calls() -> dict[str, Any]:
    """Retire (remove from the owner's library): calls against ceil(n/40) per account."""
    return _per_mode(_retire)


CASES: dict[str, Callable[[], dict[str, Any]]] = {
    "drift.verify_calls": case_verify_calls,
    "drift.retire_calls": case_retire_calls,
}
