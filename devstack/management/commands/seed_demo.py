from __future__ import annotations

import os
from typing import Any
from urllib.parse import parse_qs, urlsplit

from django.core.management.base import BaseCommand, CommandError, CommandParser


class Command(BaseCommand):
    help = "Seed demo data against the Spotify emulator: an app, accounts, album sources, playlists (idempotent)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--accounts", type=int, default=3)
        # The emulator's catalog has 60 albums by 30 artists: all of them fill 50-track playlists at an artist cap of 2.
        parser.add_argument("--albums", type=int, default=60)
        parser.add_argument("--playlists-per-account", type=int, default=2)

    def handle(self, *args: Any, accounts: int, albums: int, playlists_per_account: int, **options: Any) -> None:
        from django.conf import settings

        from accounts.models import SpotifyApp
        from accounts.oauth import authorization_complete, authorization_request_create
        from accounts.services import app_get_or_create_default
        from core.actors import cli_actor
        from devstack.emulator import EmulatorRemote, consent_over_http
        from devstack.seed_ingest import demo_queue_sources
        from devstack.seed_playlists import demo_create_playlists

        # The emulator keeps its users in memory: each boot the demo users go through the
        # connect flow again (docs/runbooks/connect-account.md), which re-authorizes the same accounts.
        emulator = EmulatorRemote(os.environ["SPOTIFY_ACCOUNTS_URL"])
        app = app_get_or_create_default()
        if app.mode != SpotifyApp.Mode.EXTENDED:
            # The demo app is a grandfathered extended-quota app: new releases (album discovery)
            # and audio features are refused to Development Mode apps (docs/spotify.md,
            # "Development Mode and extended-quota apps").
            app.mode, app.user_cap = SpotifyApp.Mode.EXTENDED, max(app.user_cap, 25)
            app.save(update_fields=["mode", "user_cap"])
        # As in Spotify's Developer Dashboard: the app's secret and its redirect URI.
        emulator.register_app(app.client_id, app.client_secret, "extended", [settings.SPOTIFY_REDIRECT_URI])
        emulator.grant_audio_features(app.client_id)
        for n in range(1, accounts + 1):
            link = authorization_request_create(app=app, actor=cli_actor())
            # What the account's owner does in a browser: the consent page, Agree, back to the callback.
            location = consent_over_http(link.authorize_url, user_id=f"demo-user-{n}", display_name=f"Demo Listener {n}")
            answer = {name: values[0] for name, values in parse_qs(urlsplit(location).query).items()}
            outcome = authorization_complete(state=answer.get("state", ""), code=answer.get("code", ""))
            if not outcome.ok:
                raise CommandError(f"demo-user-{n}: {outcome.title}: {outcome.message}")
        queued = demo_queue_sources(count=albums)
        created = demo_create_playlists(per_account=playlists_per_account)
        self.stdout.write(
            f"demo: {accounts} accounts, {queued} album sources queued, {created} playlists created "
            f"(demo app {app.client_id!r} registered as an extended-quota app: a Development Mode app "
            "cannot discover albums through new releases)"
        )
