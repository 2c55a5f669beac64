"""Dry runs of the playlist bulk doors (reshuffle, create, scale, verify): what a run would touch and the
Spotify calls it needs, per app, with the time they take at each app's burst and rate, in the one
shape of spotify.previews.CallPlan (docs/runbooks/create-reshuffle-scale-playlists.md). Nothing is
written and Spotify is not called. Each figure comes from the code the run itself uses: the
door's own selection and checks, the skip rules of playlist_reshuffle, playlist_render for the
details, playlist_create_writes and the client's chunking for the writes, the limiter's buckets."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

from django.core.exceptions import ValidationError
from django.utils import timezone

from accounts.models import SpotifyAccount
from playlists.models import Playlist, PlaylistPolicy
from playlists.services.common import account_services, playlist_connectors_skip
from playlists.services.creation import playlist_next_index, playlists_create_check
from playlists.services.policies import policy_default_for_preview
from playlists.services.rendering import playlist_render
from playlists.services.sync import playlist_create_writes
from playlists.templating import template_depends_on_selection
from spotify.previews import SAMPLE_SIZE, CallPlan


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
    if not playlist.spotify_playlist_id:
        writes = playlist_create_writes(track_count)  # created with the new details, then filled
        return writes, writes
    items = len(items_write_chunks(track_count))
    name, description = playlist_render(playlist=playlist, snapshot=snapshot)
    certain = int((name, description) != (playlist.name, playlist.description))
    policy = playlist.policy
    possible = new_selection and (
        template_depends_on_selection(policy.name_template) or template_depends_on_selection(policy.description_template)
    )
    return items + certain, items + max(certain, int(possible))


def reshuffle_preview(*, playlists: list[Playlist]) -> dict[str, Any]:
    """What queueing a reshuffle of each of `playlists` would do (playlists_queue_reshuffle)."""
    accounts = account_services()
    plan = CallPlan()
    if disabled := playlist_connectors_skip(work="reshuffle"):
        plan.skip("disabled: " + ", ".join(disabled["disabled_connectors"]), len(playlists))
        playlists = []
    for playlist in playlists:
        reason = "frozen" if playlist.frozen else playlist.account.work_blocked_reason
        if reason:
            plan.skip(reason)
            continue
        fewest, most = _reshuffle_writes(playlist)
        app_key, account_key = accounts.account_bucket_keys(playlist.account)
        plan.add(str(playlist.pk), app_key=app_key, account_key=account_key, calls_min=fewest, calls_max=most)
    return plan.as_dict()


def _add_creates(plan: CallPlan, *, account: SpotifyAccount, policy: PlaylistPolicy, first_index: int, count: int) -> None:
    """`count` new playlists on `account`: each one's queued first sync creates it and fills it."""
    app_key, account_key = account_services().account_bucket_keys(account)
    writes = playlist_create_writes(policy.size)
    now = timezone.now()
    for index in range(first_index, first_index + count):
        item = f"{account.display_name}: #{index}"
        if len(plan.touched) < SAMPLE_SIZE:  # only the sample shows names: a fleet's scaling renders no more
            new = Playlist(account=account, policy=policy, index=index, created_at=now)
            item = f"{account.display_name}: {playlist_render(playlist=new, snapshot=None)[0]}"
        plan.add(item, app_key=app_key, account_key=account_key, calls_min=writes, calls_max=writes)


def create_preview(*, account: SpotifyAccount, count: int) -> dict[str, Any]:
    """What playlists_create would do: the same checks (ValidationError as it raises them), the
    playlists it would number, the writes of their queued first syncs, and the schedule's windows
    they would overflow."""
    first_index = playlists_create_check(account=account, count=count)
    plan = _create_plan()
    _add_creates(plan, account=account, policy=policy_default_for_preview(), first_index=first_index, count=count)
    plan.notes += capacity_notes({account.app_id: count})
    return plan.as_dict()


def create_preview_many(*, accounts: Sequence[SpotifyAccount], count: int) -> dict[str, Any]:
    """create_preview for `count` playlists on each of `accounts` (the admin action): an account
    playlists_create would refuse is skipped with its reason, as the action reports it."""
    plan = _create_plan()
    policy = policy_default_for_preview()
    more: Counter[int] = Counter()
    for account in accounts:
        try:
            first_index = playlists_create_check(account=account, count=count)
        except ValidationError as exc:
            plan.skip(f"{account.display_name}: {' '.join(exc.messages)}")
            continue
        _add_creates(plan, account=account, policy=policy, first_index=first_index, count=count)
        more[account.app_id] += count
    plan.notes += capacity_notes(more)
    return plan.as_dict()


def capacity_notes(more_playlists: Mapping[int, int]) -> list[str]:
    """Next to a change's own calls, what the schedule already asks of its apps: each window of
    the schedule (fleet capacity) that fits today and would overflow with `more_playlists`
    ({app id: playlists added, or fewer when negative})."""
    from playlists.services.capacity import capacity_change_warnings

    if not any(more_playlists.values()):
        return []
    return [f"Fleet capacity: {warning}" for warning in capacity_change_warnings(extra_playlists=dict(more_playlists))]


def _create_plan() -> CallPlan:
    plan = CallPlan()
    if disabled := playlist_connectors_skip(work="sync"):
        plan.notes.append("Spotify writes are off (" + ", ".join(disabled["disabled_connectors"]) + "): the syncs would wait.")
    return plan


def scale_call_plan(
    *,
    accounts: Mapping[str, SpotifyAccount],
    rows: Sequence[dict[str, Any]],
    retiring: Sequence[Playlist],
    moves: Sequence[dict[str, Any]],
    unplaced: Sequence[str],
) -> dict[str, Any]:
    """The Spotify side of a scaling plan (playlists_scale_daily): each retired playlist leaves
    its owner's library by the account's batch unfollow (skipped on an account work may not
    touch, as playlists_unfollow does), each new one is created and filled by its first sync."""
    from spotify.client import library_chunks

    buckets = account_services().account_bucket_keys
    plan = CallPlan()
    unfollow: Counter[Any] = Counter()
    by_account: dict[Any, SpotifyAccount] = {}
    for playlist in retiring:
        by_account[playlist.account_id] = playlist.account
        if playlist.spotify_playlist_id and not playlist.account.work_blocked_reason:
            unfollow[playlist.account_id] += 1
        app_key, account_key = buckets(playlist.account)
        # Its unfollow is part of its account's batch call, counted below.
        plan.add(str(playlist.pk), app_key=app_key, account_key=account_key, calls_min=0, calls_max=0)
    for account_id, count in unfollow.items():
        app_key, account_key = buckets(by_account[account_id])
        calls = len(library_chunks(count))
        plan.calls(app_key=app_key, account_key=account_key, calls_min=calls, calls_max=calls)
    if blocked := sum(1 for p in retiring if p.spotify_playlist_id and p.account.work_blocked_reason):
        plan.notes.append(f"{blocked} retired playlists stay in their owners' libraries until the accounts can be worked on.")
    policies = {policy.pk: policy for policy in PlaylistPolicy.objects.filter(pk__in={m["policy_id"] for m in moves})}
    default = policy_default_for_preview()
    for row in rows:
        if not row["create"]:
            continue
        account = accounts[row["account_id"]]
        incoming = Counter(m["policy_id"] for m in moves if m["to_account"] == row["account_id"])
        fresh = row["create"] - sum(incoming.values())
        first_index = playlist_next_index(account)
        for policy_id, count in [*incoming.items(), (default.pk, fresh)]:
            _add_creates(plan, account=account, policy=policies.get(policy_id) or default, first_index=first_index, count=count)
            first_index += count
    if unplaced:
        plan.skip("no healthy account has room", len(unplaced))
    return plan.as_dict()


def verify_preview(*, limit: int | None = None) -> dict[str, Any]:
    """What verify_playlists would do now (playlists_verify): the playlists it takes, per account
    one library check per 40, then one GET each. Unchanged playlists cost only that (calls_min);
    calls_max counts a repair of each: its items read, its details and items written. A
    playlist deleted on Spotify is recreated or retired (PLAYLIST_DELETED_ON_SPOTIFY): a note."""
    from playlists.services.verify import playlists_to_verify
    from spotify.client import items_read_calls, items_write_chunks, library_chunks

    plan = CallPlan()
    if disabled := playlist_connectors_skip(work="verify"):
        plan.notes.append("Switched off (" + ", ".join(disabled["disabled_connectors"]) + "): the run verifies nothing.")
        return plan.as_dict()
    by_account: dict[Any, list[Playlist]] = {}
    for playlist in playlists_to_verify(limit=limit):
        by_account.setdefault(playlist.account_id, []).append(playlist)
    for group in by_account.values():
        app_key, account_key = account_services().account_bucket_keys(group[0].account)
        checks = len(library_chunks(len(group)))
        plan.calls(app_key=app_key, account_key=account_key, calls_min=checks, calls_max=checks)
        for playlist in group:
            tracks = playlist.current_snapshot.track_count if playlist.current_snapshot else 0
            repair = items_read_calls(tracks) + 1 + len(items_write_chunks(tracks))
            plan.add(str(playlist.pk), app_key=app_key, account_key=account_key, calls_min=1, calls_max=1 + repair)
    if plan.touched:
        plan.notes.append(
            "A playlist deleted on Spotify is recreated (a sync) or retired, as PLAYLIST_DELETED_ON_SPOTIFY says: not counted."
        )
    return plan.as_dict()
