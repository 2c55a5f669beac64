"""Dry runs of bulk doors: what a run would touch and the Spotify calls it needs, per app, with the
time they take at each app's burst and rate (docs/runbooks/create-reshuffle-scale-playlists.md).
Nothing is written and Spotify is not called. Each figure comes from the code the run itself
uses: the door's own selection, the skip rules of playlist_reshuffle, playlist_render for the
details, spotify.client.items_write_chunks for the item writes, the limiter's buckets."""

from __future__ import annotations

from collections import Counter, defaultdict
from typing import Any

from playlists.models import Playlist
from playlists.services.common import account_services, playlist_connectors_skip
from playlists.services.rendering import playlist_render
from playlists.templating import template_depends_on_selection

SAMPLE_SIZE = 10


def _reshuffle_writes(playlist: Playlist) -> tuple[int, int]:
    """(fewest, most) Spotify writes one reshuffle of `playlist` makes, as playlist_reshuffle and
    playlist_sync decide them. A new selection may change a name or description whose template
    reads it (top artists, track count, date): that rename is counted in `most` only."""
    from spotify.client import items_write_chunks

    snapshot = playlist.current_snapshot
    if snapshot is None or snapshot.synced_at is not None:
        new_selection, track_count = True, playlist.policy.size
    else:
        new_selection, track_count = False, snapshot.track_count
    items = len(items_write_chunks(track_count))
    if not playlist.spotify_playlist_id:
        return 1 + items, 1 + items  # created with the new details, then filled
    name, description = playlist_render(playlist=playlist, snapshot=snapshot)
    certain = int((name, description) != (playlist.name, playlist.description))
    policy = playlist.policy
    possible = new_selection and (
        template_depends_on_selection(policy.name_template) or template_depends_on_selection(policy.description_template)
    )
    return items + certain, items + max(certain, int(possible))


def reshuffle_preview(*, playlists: list[Playlist]) -> dict[str, Any]:
    """What queueing a reshuffle of each of `playlists` would do (playlists_queue_reshuffle)."""
    from spotify.ratelimit import bucket_eta_seconds

    accounts = account_services()
    skipped: Counter[str] = Counter()
    if disabled := playlist_connectors_skip(work="reshuffle"):
        skipped["disabled: " + ", ".join(disabled["disabled_connectors"])] = len(playlists)
        playlists = []
    per_app: dict[str, dict[str, Any]] = defaultdict(lambda: {"playlists": 0, "calls_min": 0, "calls_max": 0})
    per_account: Counter[tuple[str, str]] = Counter()
    touched: list[str] = []
    for playlist in playlists:
        reason = "frozen" if playlist.frozen else playlist.account.work_blocked_reason
        if reason:
            skipped[reason] += 1
            continue
        fewest, most = _reshuffle_writes(playlist)
        app_key, account_key = accounts.account_bucket_keys(playlist.account)
        app = per_app[app_key]
        app["playlists"] += 1
        app["calls_min"] += fewest
        app["calls_max"] += most
        per_account[(app_key, account_key)] += most
        touched.append(str(playlist.pk))
    apps = []
    for app_key, figures in sorted(per_app.items()):
        # Every call takes from its app's bucket and its account's: the slower of the two decides.
        account_etas = [bucket_eta_seconds("account", key, calls) for (app, key), calls in per_account.items() if app == app_key]
        eta = max([bucket_eta_seconds("app", app_key, figures["calls_max"]), *account_etas])
        apps.append({"app": app_key, **figures, "eta_seconds": round(eta, 1)})
    return {
        "playlists": len(touched),
        "sample": touched[:SAMPLE_SIZE],
        "skipped": dict(skipped),
        "calls_min": sum(app["calls_min"] for app in apps),
        "calls_max": sum(app["calls_max"] for app in apps),
        "eta_seconds": max((app["eta_seconds"] for app in apps), default=0.0),
        "apps": apps,
    }
