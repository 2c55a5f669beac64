from __future__ import annotations

import ipaddress
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from devstack.emulator import Catalog, SpotifyEmulator


class Command(BaseCommand):
    help = "Run the Spotify Web API emulator (tests, benchmarks, demo) on a loopback port until interrupted."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--port", type=int, default=8765, help="TCP port (0 picks a free one).")
        parser.add_argument("--host", default="127.0.0.1", help="Loopback address to bind.")
        parser.add_argument("--seed", type=int, default=42, help="Seed of the generated catalog.")
        parser.add_argument(
            "--development-app",
            action="append",
            default=[],
            metavar="CLIENT_ID",
            help="Treat this client id as a Development Mode app (403 on several-albums and audio features).",
        )
        parser.add_argument("--albums", type=int, default=60, help="Albums in the generated catalog.")
        parser.add_argument(
            "--artists", type=int, default=None, help="Artists in the catalog (default: albums / 2, at least 30)."
        )
        parser.add_argument(
            "--latency-ms", type=float, default=0.0, help="Every Web API answer waits this long (Spotify is not on loopback)."
        )
        parser.add_argument(
            "--no-audio-features",
            action="store_true",
            help="Answer 403 on audio features, as Spotify does for apps registered after Nov 2024.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        # Nothing here may listen beyond this machine: the emulator has no auth on /_emulator/.
        host = "127.0.0.1" if options["host"] == "localhost" else options["host"]
        try:
            loopback = ipaddress.ip_address(host).is_loopback
        except ValueError:
            loopback = False
        if not loopback:
            raise CommandError("--host must be a loopback address")
        emulator = SpotifyEmulator(seed=options["seed"], host=host, port=options["port"])
        if options["albums"] != 60 or options["artists"] is not None:
            artists = options["artists"] or max(30, options["albums"] // 2)
            emulator.catalog = Catalog(options["seed"], album_count=options["albums"], artist_count=artists)
        emulator.set_latency(options["latency_ms"] / 1000)
        for client_id in options["development_app"]:
            emulator.set_app_mode(client_id, "development")
        if options["no_audio_features"]:
            emulator.set_audio_features_enabled(False)
        self.stdout.write(
            f"Spotify emulator on {emulator.url} (seed {options['seed']}, {len(emulator.catalog.album_ids())} albums)\n"
            f"  SPOTIFY_API_URL={emulator.api_url}\n  SPOTIFY_ACCOUNTS_URL={emulator.accounts_url}"
        )
        self.stdout.flush()
        try:
            emulator.serve_forever()
        except KeyboardInterrupt:
            pass
        finally:
            emulator.stop()
