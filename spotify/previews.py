"""The one shape of a bulk door's dry run: what it would touch (a count and a sample), what it
skips and why, and the Spotify calls it needs per app with the time they take at the limiter's
burst and rate. Every preview (reshuffle, create, scale, dead-letter replay, ...) fills a
CallPlan with figures from its run's own code and answers `CallPlan.as_dict()`."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.utils import timezone

from spotify.ratelimit import bucket_eta_seconds

SAMPLE_SIZE = 10
APP_FIGURES = ("count", "calls_min", "calls_max")

# What the schedule already asks of apps between two times: {app key: {"calls", "jobs"}}. The
# layer that knows the schedule's Spotify work registers it (playlists.services.capacity).
ScheduleDemand = Callable[[list[str], datetime, datetime], dict[str, dict[str, Any]]]
_schedule_demand: list[ScheduleDemand] = []


def schedule_demand_register(provider: ScheduleDemand) -> None:
    _schedule_demand[:] = [provider]


@dataclass
class CallPlan:
    touched: list[str] = field(default_factory=list)
    skipped: Counter[str] = field(default_factory=Counter)
    notes: list[str] = field(default_factory=list)
    _apps: dict[str, dict[str, int]] = field(default_factory=lambda: defaultdict(lambda: dict.fromkeys(APP_FIGURES, 0)))
    # Calls at most per (app, account) bucket: an account's own bucket may be the slower one.
    _accounts: Counter[tuple[str, str]] = field(default_factory=Counter)

    def add(self, item: str, *, app_key: str, account_key: str | None = None, calls_min: int, calls_max: int) -> None:
        """One item the run touches and the calls it needs on behalf of `account_key` (None: app-only calls)."""
        self.touched.append(item)
        self._apps[app_key]["count"] += 1
        self.calls(app_key=app_key, account_key=account_key, calls_min=calls_min, calls_max=calls_max)

    def calls(self, *, app_key: str, account_key: str | None = None, calls_min: int, calls_max: int) -> None:
        """Calls not tied to one item (a batch call for many)."""
        app = self._apps[app_key]
        app["calls_min"] += calls_min
        app["calls_max"] += calls_max
        if account_key is not None:
            self._accounts[(app_key, account_key)] += calls_max

    def skip(self, reason: str, count: int = 1) -> None:
        self.skipped[reason] += count

    def as_dict(self) -> dict[str, Any]:
        apps: list[dict[str, Any]] = []
        for app_key, figures in sorted(self._apps.items()):
            # Every call takes from its app's bucket and its account's: the slower of the two decides.
            etas = [bucket_eta_seconds("account", key, calls) for (app, key), calls in self._accounts.items() if app == app_key]
            eta = max([bucket_eta_seconds("app", app_key, figures["calls_max"]), *etas])
            apps.append({"app": app_key, **figures, "eta_seconds": round(eta, 1)})
        self._schedule_beside(apps)
        return {
            "count": len(self.touched),
            "sample": self.touched[:SAMPLE_SIZE],
            "skipped": dict(self.skipped),
            "calls_min": sum(app["calls_min"] for app in apps),
            "calls_max": sum(app["calls_max"] for app in apps),
            "eta_seconds": max((app["eta_seconds"] for app in apps), default=0.0),
            "apps": apps,
            "notes": self.notes,
        }

    @staticmethod
    def _schedule_beside(apps: list[dict[str, Any]]) -> None:
        """Next to each app's figures, the calls the schedule's runs open during this work ask of
        that app (`schedule_calls`, by `schedule_jobs`): the two share the app's rate."""
        if not apps or not _schedule_demand:
            return
        now = timezone.now()
        until = now + timedelta(seconds=max(app["eta_seconds"] for app in apps))
        demand = _schedule_demand[0]([app["app"] for app in apps], now, until)
        for app in apps:
            asked = demand.get(app["app"], {})
            app["schedule_calls"] = asked.get("calls", 0)
            app["schedule_jobs"] = asked.get("jobs", [])
