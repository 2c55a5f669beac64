"""Fleet capacity: per app, the Spotify calls the daily schedule asks for against what the app's
rate limit lets through in each job's window, and how many more playlists each app could take
(docs/runbooks/fleet-capacity.md).

A job's window is its grace period from its next run: a run that has not finished by then is late
(jobs.selectors). Every call takes from its app's bucket and its account's (spotify.ratelimit), so
both are held against their allowance: the burst plus the refill rate over the window. The calls
are upper bounds counted by the code the runs use: the selectors that pick the work,
spotify.client.items_write_chunks for item writes, template_depends_on_selection for a rename,
playlist_create_writes for a first sync, library_chunks for verify's library checks. A repair that verify may find is not counted.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.conf import settings
from django.db.models import Count, Q, Sum
from django.utils import timezone

from accounts.models import SpotifyAccount, SpotifyApp
from accounts.selectors import accounts_workable_q
from playlists import selectors
from playlists.models import PlaylistPolicy
from playlists.services.sync import playlist_create_writes
from playlists.templating import template_depends_on_selection

# The scheduled jobs that call Spotify on playlists' behalf (jobs.specs); the others read the catalog
# through client credentials (ingest) or call nobody (snapshots, metrics, retention).
RESHUFFLE_JOB = "reshuffle_due_playlists"
SYNC_JOB = "ensure_playlist_for_account"
VERIFY_JOB = "verify_playlists"


@dataclass
class Window:
    """One run of a job for one app: the calls it asks for and what the buckets allow meanwhile."""

    job: str
    starts_at: datetime
    seconds: int
    calls: int = 0
    allowed: int = 0
    # What one more playlist on this app would add to this window at most.
    calls_per_playlist: int = 0
    busiest_account: str = ""
    busiest_account_calls: int = 0
    busiest_account_allowed: int = 0

    @property
    def fits(self) -> bool:
        return self.calls <= self.allowed and self.busiest_account_calls <= self.busiest_account_allowed

    def as_dict(self) -> dict[str, Any]:
        return {
            "job": self.job,
            "starts_at": self.starts_at,
            "window_seconds": self.seconds,
            "calls": self.calls,
            "allowed": self.allowed,
            "use_percent": round(100 * self.calls / self.allowed, 1) if self.allowed else None,
            "busiest_account": self.busiest_account or None,
            "busiest_account_calls": self.busiest_account_calls,
            "busiest_account_allowed": self.busiest_account_allowed,
            "fits": self.fits,
        }


@dataclass
class AppCapacity:
    app: SpotifyApp
    playlists: int = 0
    slots_free: int = 0
    windows: list[Window] = field(default_factory=list)


def _allowed(kind: str, ident: str, seconds: int) -> int:
    from spotify.ratelimit import bucket_limits

    capacity, rate = bucket_limits(kind, ident)  # type: ignore[arg-type]
    return int(capacity + rate * seconds)


def _policy_writes(changed: PlaylistPolicy | None) -> dict[int, tuple[int, int]]:
    """Per policy, the most Spotify writes of (a reshuffle or sync of a playlist on Spotify, the
    first sync of one not there yet): its items, and a details update when a template reads the
    selection (playlists.services.previews); a create carries its details
    (playlist_create_writes). `changed` stands in for its saved row: an edit not saved yet."""
    from spotify.client import items_write_chunks

    policies = {policy.pk: policy for policy in PlaylistPolicy.objects.all()}
    if changed is not None and changed.pk:
        policies[changed.pk] = changed
    return {
        pk: (
            len(items_write_chunks(policy.size))
            + int(
                template_depends_on_selection(policy.name_template) or template_depends_on_selection(policy.description_template)
            ),
            playlist_create_writes(policy.size),
        )
        for pk, policy in policies.items()
    }


def _job_windows(now: datetime) -> dict[str, tuple[datetime, int]]:
    """Each job's window (its grace period from a run): the one still open, else the next, from
    beat's own schedule (an operator's edit in the admin counts; a job not in beat's table falls
    back to its spec)."""
    from celery.schedules import crontab
    from django_celery_beat.models import PeriodicTask

    from jobs.selectors import next_fire_time, previous_fire_time
    from jobs.specs import JOBS_BY_NAME

    names = (RESHUFFLE_JOB, SYNC_JOB, VERIFY_JOB)
    schedules = {task.task: task.schedule for task in PeriodicTask.objects.filter(task__in=names, crontab__isnull=False)}
    windows = {}
    for name in names:
        spec = JOBS_BY_NAME[name]
        schedule = schedules.get(name) or crontab(minute=spec.minute, hour=spec.hour)
        seconds = spec.grace_minutes * 60
        started = previous_fire_time(schedule, now)
        open_now = started is not None and (now - started).total_seconds() < seconds
        windows[name] = ((started if open_now else next_fire_time(schedule, now)) or now, seconds)
    return windows


def fleet_capacity(
    *, now: datetime | None = None, extra_playlists: dict[int, int] | None = None, changed_policy: PlaylistPolicy | None = None
) -> dict[str, Any]:
    """Per app, each Spotify-calling job's next window: its calls against the app's and the busiest
    account's allowance; and the playlists the app could still take (the tighter of its windows'
    room and its accounts' free slots). `extra_playlists` ({app id: n}) asks whether an operator's
    change would still fit: n more playlists of the default policy, due in every window; and
    `changed_policy`, an edit of a policy before it is saved."""
    now = now or timezone.now()
    extra_playlists = extra_playlists or {}
    windows = _job_windows(now)
    writes = _policy_writes(changed_policy)
    default_policy = PlaylistPolicy.objects.filter(is_default=True).values_list("pk", flat=True).first()
    new_writes = writes.get(default_policy, (0, 0)) if default_policy else max(writes.values(), default=(0, 0))
    reshuffle_at = windows[RESHUFFLE_JOB][0]
    needing_sync = selectors.playlists_needing_sync().values("pk")
    verifiable = Q(frozen=False) & ~Q(spotify_playlist_id="")
    rows = (
        selectors.playlists_schedulable()
        .order_by()
        .values("account__app_id", "account_id", "policy_id")
        .annotate(
            total=Count("pk"),
            due=Count("pk", filter=Q(next_reshuffle_at__lte=reshuffle_at, frozen=False, parked_work="")),
            due_uncreated=Count(
                "pk", filter=Q(next_reshuffle_at__lte=reshuffle_at, frozen=False, parked_work="", spotify_playlist_id="")
            ),
            unsynced=Count("pk", filter=Q(pk__in=needing_sync)),
            unsynced_uncreated=Count("pk", filter=Q(pk__in=needing_sync, spotify_playlist_id="")),
            verifiable=Count("pk", filter=verifiable),
        )
    )
    # calls[app][job][account]
    calls: dict[int, dict[str, dict[str, int]]] = defaultdict(lambda: defaultdict(lambda: defaultdict(int)))
    verifiable_per_account: dict[tuple[int, str], int] = defaultdict(int)
    playlists_per_app: dict[int, int] = defaultdict(int)
    for row in rows:
        app_id, account = row["account__app_id"], str(row["account_id"])
        on_spotify, first_sync = writes.get(row["policy_id"], (0, 0))
        playlists_per_app[app_id] += row["total"]
        calls[app_id][RESHUFFLE_JOB][account] += (row["due"] - row["due_uncreated"]) * on_spotify + row[
            "due_uncreated"
        ] * first_sync
        calls[app_id][SYNC_JOB][account] += (row["unsynced"] - row["unsynced_uncreated"]) * on_spotify + row[
            "unsynced_uncreated"
        ] * first_sync
        calls[app_id][VERIFY_JOB][account] += row["verifiable"]
        verifiable_per_account[(app_id, account)] += row["verifiable"]
    from spotify.client import library_chunks

    for (app_id, account), count in verifiable_per_account.items():
        calls[app_id][VERIFY_JOB][account] += len(library_chunks(count))
    # One more playlist: its first sync, then its reshuffles; verify's read and at most one library check.
    per_playlist = {RESHUFFLE_JOB: new_writes[0], SYNC_JOB: new_writes[1], VERIFY_JOB: 2}
    slots = dict(
        SpotifyAccount.objects.filter(accounts_workable_q())
        .order_by()
        .values("app_id")
        .annotate(capacity=Sum("playlist_capacity"))
        .values_list("app_id", "capacity")
    )
    apps = []
    warnings = []
    for app in SpotifyApp.objects.order_by("name"):
        extra = extra_playlists.get(app.pk, 0)
        capacity = AppCapacity(
            app=app, playlists=playlists_per_app[app.pk], slots_free=max(0, (slots.get(app.pk) or 0) - playlists_per_app[app.pk])
        )
        for job, (starts_at, seconds) in windows.items():
            by_account = calls[app.pk][job]
            window = Window(job=job, starts_at=starts_at, seconds=seconds, calls_per_playlist=per_playlist[job])
            window.calls = sum(by_account.values()) + extra * per_playlist[job]
            window.allowed = _allowed("app", str(app.pk), seconds)
            if by_account:
                window.busiest_account, window.busiest_account_calls = max(by_account.items(), key=lambda item: item[1])
                window.busiest_account_allowed = _allowed("account", window.busiest_account, seconds)
            capacity.windows.append(window)
            if not window.fits:
                warnings.append(_overflow(app, window))
        apps.append(capacity)
    return {
        "at": now,
        "verify_batch": settings.PLAYLIST_VERIFY_BATCH,
        "apps": [_app_dict(capacity) for capacity in apps],
        "fits": not warnings,
        "warnings": warnings,
    }


def schedule_demand(app_keys: list[str], start: datetime, end: datetime) -> dict[str, dict[str, Any]]:
    """The calls the schedule's windows open between `start` and `end` ask of each app (a bulk
    door's dry run shows them beside its own: spotify.previews)."""
    demand: dict[str, dict[str, Any]] = {}
    for app in fleet_capacity(now=start)["apps"]:
        if str(app["app"]) not in app_keys:
            continue
        overlapping = [
            window
            for window in app["windows"]
            if window["starts_at"] <= end and (window["starts_at"] - start).total_seconds() + window["window_seconds"] > 0
        ]
        demand[str(app["app"])] = {
            "calls": sum(window["calls"] for window in overlapping),
            "jobs": [window["job"] for window in overlapping if window["calls"]],
        }
    return demand


def _overflow(app: SpotifyApp, window: Window) -> str:
    return (
        f"{app.name}: {window.job} from {window.starts_at:%H:%M} UTC needs {window.calls} calls in {window.seconds // 60} min; "
        f"its limits allow {window.allowed} (app) and {window.busiest_account_allowed or '-'} (busiest account)."
    )


def capacity_change_warnings(
    *, extra_playlists: dict[int, int] | None = None, changed_policy: PlaylistPolicy | None = None
) -> list[str]:
    """What an operator's change would overflow that fits today: the windows (app, job) that fit
    now and would not after it (fleet_capacity's warnings for those)."""

    def overflowing(capacity: dict[str, Any]) -> dict[tuple[int, str], str]:
        return {
            (app["app"], window["job"]): window["warning"]
            for app in capacity["apps"]
            for window in app["windows"]
            if not window["fits"]
        }

    now = timezone.now()
    before = overflowing(fleet_capacity(now=now))
    after = overflowing(fleet_capacity(now=now, extra_playlists=extra_playlists, changed_policy=changed_policy))
    return [warning for key, warning in after.items() if key not in before]


def _app_dict(capacity: AppCapacity) -> dict[str, Any]:
    # The room in the tightest window, in playlists; never more than the accounts' free slots.
    room = min(
        (
            (window.allowed - window.calls) // window.calls_per_playlist
            for window in capacity.windows
            if window.calls_per_playlist
        ),
        default=0,
    )
    tightest = min(capacity.windows, key=lambda w: (w.allowed - w.calls) / max(w.calls_per_playlist, 1), default=None)
    could_take = max(0, min(room, capacity.slots_free))
    return {
        "app": capacity.app.pk,
        "name": capacity.app.name,
        "mode": capacity.app.mode,
        "playlists": capacity.playlists,
        "slots_free": capacity.slots_free,
        "could_take": could_take,
        "bound_by": ("account slots" if capacity.slots_free <= room else f"rate limit in {tightest.job}")
        if tightest
        else "account slots",
        "fits": all(window.fits for window in capacity.windows),
        "windows": [
            {**window.as_dict(), "warning": "" if window.fits else _overflow(capacity.app, window)} for window in capacity.windows
        ],
    }
