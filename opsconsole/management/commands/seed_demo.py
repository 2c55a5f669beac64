from __future__ import annotations

import os
from typing import Any

from django.core.management.base import BaseCommand, CommandParser


class Command(BaseCommand):
    help = "Seed demo data against the Spotify emulator: an app, accounts, album sources, playlists (idempotent)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--accounts", type=int, default=3)
        # The emulator's catalog has 60 albums by 30 artists: all of them fill 50-track playlists at an artist cap of 2.
        parser.add_argument("--albums", type=int, default=60)
        parser.add_argument("--playlists-per-account", type=int, default=2)

    def handle(self, *args: Any, accounts: int, albums: int, playlists_per_account: int, **options: Any) -> None:
        from accounts.models import SpotifyApp
        from accounts.services import account_onboard, app_get_or_create_default
        from ingest.demo import demo_queue_sources
        from opsconsole.spotify.emulator import EmulatorRemote
        from playlists.demo import demo_create_playlists

        # The emulator keeps its users in memory: each boot re-authorizes the demo users and
        # stores their fresh refresh tokens (encrypted) on the same accounts.
        emulator = EmulatorRemote(os.environ["SPOTIFY_ACCOUNTS_URL"])
        app = app_get_or_create_default()
        if app.mode != SpotifyApp.Mode.EXTENDED:
            # The demo app is a grandfathered extended-quota app so audio features flow.
            app.mode, app.user_cap = SpotifyApp.Mode.EXTENDED, max(app.user_cap, 25)
            app.save(update_fields=["mode", "user_cap"])
        emulator.set_app_mode(app.client_id, "extended")
        for n in range(1, accounts + 1):
            user = emulator.create_user(f"demo-user-{n}", display_name=f"Demo Listener {n}", client_id=app.client_id)
            account_onboard(
                app=app,
                spotify_user_id=f"demo-user-{n}",
                display_name=f"Demo Listener {n}",
                refresh_token=user["refresh_token"],
                scopes="playlist-modify-private playlist-modify-public playlist-read-private",
            )
        queued = demo_queue_sources(count=albums)
        created = demo_create_playlists(per_account=playlists_per_account)
        self.stdout.write(f"demo: {accounts} accounts, {queued} album sources queued, {created} playlists created")
