"""The soak's fleet, built the way an operator builds one: apps registered (in Spotify's dashboard and
ours), accounts connected through the OAuth flow (connect link from the API, the owner's consent on
"Spotify", the console's callback), playlists created by the scale job the API queues.

Setting up what no operator door sets (the apps' rows, each account's capacity, a schedule compressed
from days into minutes, reshuffles falling due during the run) is done once here, before the run,
as the demo's seeding does.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from bench.soak.config import SoakConfig
from bench.soak.db import read
from bench.soak.doors import DoorError, Doors, manage

OPERATOR = "soak-operator"
# The compressed schedule: every job within minutes (minute field of a UTC crontab, hour "*").
SCHEDULE = {
    "refresh_tokens": "*/5",
    "ingest_albums_from_sources": "*",
    "fetch_audio_features": "*/2",
    "build_playlist_snapshot": "*/5",
    "ensure_playlist_for_account": "*/2",
    "reshuffle_due_playlists": "*",
    "verify_playlists": "*/2",
    "resume_parked_playlists": "*",
    "scale_playlists_daily": "*/3",
    "metrics_snapshot": "*/5",
    "retention": "*/30",
    "evaluate_alerts": "*",
}


@dataclass
class Fleet:
    apps: list[dict[str, Any]] = field(default_factory=list)
    # account id -> {"user_id", "app", "mode"}
    accounts: dict[str, dict[str, Any]] = field(default_factory=dict)
    token: str = ""
    password: str = ""


def _apps(config: SoakConfig) -> list[dict[str, Any]]:
    import os

    rng = random.Random(config.seed + 3)
    apps = [
        {
            "name": f"soak-extended-{n}",
            "mode": "extended",
            "accounts": config.accounts_per_extended_app,
            "user_cap": 25,
            # The first extended app is the one the environment names: the catalog's app too.
            "secret": os.environ["SPOTIFY_CLIENT_SECRET"] if n == 1 else f"soak-secret-{rng.getrandbits(64):x}",
        }
        for n in range(1, config.extended_apps + 1)
    ]
    apps += [
        {
            "name": f"soak-development-{n}",
            "mode": "development",
            "accounts": config.accounts_per_development_app,
            "user_cap": 5,
            "secret": f"soak-secret-{rng.getrandbits(64):x}",
        }
        for n in range(1, config.development_apps + 1)
    ]
    return apps


def fleet_prepare(*, config: SoakConfig, emulator: Any, env: dict[str, str]) -> Fleet:
    """Before the servers start: migrations, the schedule (compressed), the alert rules, the
    operator's login and API token, the apps (ours and Spotify's dashboard)."""
    import secrets

    from django.conf import settings

    fleet = Fleet()
    fleet.password = secrets.token_urlsafe(16)
    manage("migrate", "--no-input", "-v", "0", env=env)
    manage("setup_periodic_tasks", env=env)
    manage("setup_alert_rules", "--email", "oncall@localhost", env=env)
    manage(
        "createsuperuser",
        "--no-input",
        env={
            **env,
            "DJANGO_SUPERUSER_USERNAME": OPERATOR,
            "DJANGO_SUPERUSER_PASSWORD": fleet.password,
            "DJANGO_SUPERUSER_EMAIL": "soak@localhost",
        },
    )
    fleet.token = manage("create_api_token", OPERATOR, env=env).splitlines()[-1].strip()
    _compress_schedule()
    from accounts.models import SpotifyApp

    for spec in _apps(config):
        app, _ = SpotifyApp.objects.update_or_create(
            client_id=spec["name"],
            defaults={"name": spec["name"], "client_secret": spec["secret"], "mode": spec["mode"], "user_cap": spec["user_cap"]},
        )
        # As in Spotify's Developer Dashboard: secret, mode, redirect URI; extended apps keep audio features.
        emulator.register_app(spec["name"], spec["secret"], spec["mode"], [settings.SPOTIFY_REDIRECT_URI])
        if spec["mode"] == "extended":
            emulator.grant_audio_features(spec["name"])
        fleet.apps.append({**spec, "id": app.pk})
    return fleet


def fleet_connect(*, config: SoakConfig, fleet: Fleet, web_url: str) -> Doors:
    """Once web is up: every account through the connect flow; returns the operator's doors."""
    doors = Doors(base_url=web_url, token=fleet.token, username=OPERATOR, password=fleet.password)
    for app in fleet.apps:
        for n in range(1, app["accounts"] + 1):
            user_id = f"{app['name']}-user-{n}"
            account_id = account_connect(doors=doors, app_id=app["id"], user_id=user_id, display_name=f"Soak {user_id}")
            fleet.accounts[account_id] = {"user_id": user_id, "app": app["name"], "mode": app["mode"]}
    _capacities(config)
    return doors


def account_connect(*, doors: Doors, app_id: int, user_id: str, display_name: str) -> str:
    """The connect flow end to end; returns the account's id."""
    link = doors.api("POST", "accounts/connect", json={"app_id": app_id})
    return _consent_and_callback(doors=doors, authorize_url=link["authorize_url"], user_id=user_id, display_name=display_name)


def account_reauthorize(*, doors: Doors, account_id: str, user_id: str) -> str:
    link = doors.api("POST", f"accounts/{account_id}/reauthorize")
    return _consent_and_callback(doors=doors, authorize_url=link["authorize_url"], user_id=user_id, display_name="")


def _consent_and_callback(*, doors: Doors, authorize_url: str, user_id: str, display_name: str) -> str:
    import requests

    from accounts.models import SpotifyAccount
    from devstack.emulator import consent_over_http

    # What the account's owner does in a browser: the consent page, Agree, back to our callback.
    location = consent_over_http(authorize_url, user_id=user_id, display_name=display_name or user_id)
    answer = requests.get(location, timeout=60)
    if answer.status_code != 200:
        raise DoorError(f"callback for {user_id} answered {answer.status_code}: {answer.text[:300]}")
    return str(read(lambda: SpotifyAccount.objects.get(spotify_user_id=user_id).pk))


def _compress_schedule() -> None:
    from django_celery_beat.models import CrontabSchedule, PeriodicTask, PeriodicTasks

    for name, minute in SCHEDULE.items():
        crontab, _ = CrontabSchedule.objects.get_or_create(
            minute=minute, hour="*", day_of_week="*", day_of_month="*", month_of_year="*", timezone="UTC"
        )
        PeriodicTask.objects.filter(name=name).update(crontab=crontab)
    PeriodicTasks.update_changed()


def _capacities(config: SoakConfig) -> None:
    from accounts.models import SpotifyAccount

    SpotifyAccount.objects.update(playlist_capacity=config.playlists_per_account)


def stagger_reshuffles(*, config: SoakConfig) -> int:
    """Reshuffles fall due all through the run (the policy's interval is days)."""
    from django.utils import timezone

    from playlists.models import Playlist

    rng = random.Random(config.seed + 1)
    now = timezone.now()
    span = max(60.0, config.fault_end_seconds)
    playlists = list(Playlist.objects.filter(status="active").values_list("pk", flat=True).order_by("pk"))
    for pk in playlists:
        Playlist.objects.filter(pk=pk).update(next_reshuffle_at=now + timedelta(seconds=rng.uniform(30, span)))
    return len(playlists)


def wait_for(predicate: Any, *, seconds: float, what: str, interval: float = 2.0) -> Any:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise DoorError(f"{what}: not within {seconds:.0f} s")
