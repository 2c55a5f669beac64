"""The dashboard's drift panel: found and repaired (the /metrics counters), frozen and parked playlists."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.contrib.auth.models import User
from django.utils import timezone

from accounts.models import SpotifyAccount, SpotifyApp
from core.counters import counter_inc
from playlists import services
from playlists.models import Playlist
from tests.factories import PlaylistFactory
from tests.fixtures_clients import client_for

pytestmark = pytest.mark.django_db

DASHBOARD = "/admin/metrics/metricsnapshot/dashboard/"


def _cell(page: str, cell_id: str) -> str:
    found = re.search(rf'<td id="{cell_id}"[^>]*>(.*?)</td>', page, re.S)
    assert found, f"{cell_id} missing from the dashboard"
    return re.sub(r"<[^>]+>", "", found.group(1)).strip()


def _panel(superuser: User) -> dict[str, str]:
    page = client_for(superuser).get(DASHBOARD).content.decode()
    assert 'id="panel-drift"' in page
    return {name: _cell(page, f"drift-{name}") for name in ("found", "repaired", "frozen", "parked")}


def test_drift_panel_shows_the_counters_and_the_frozen_and_parked_playlists(superuser: User, spotify_app: SpotifyApp) -> None:
    account = SpotifyAccount.objects.create(app=spotify_app, display_name="Drift", spotify_user_id="drift-user")
    frozen, parked, _plain = (PlaylistFactory(account=account) for _ in range(3))
    assert _panel(superuser) == {"found": "0", "repaired": "0", "frozen": "0", "parked": "0"}

    counter_inc("playlist_drift_found_total")
    counter_inc("playlist_drift_found_total")
    counter_inc("playlist_drift_repaired_total")
    services.playlist_set_frozen(playlist=frozen, frozen=True, actor="test")
    Playlist.objects.filter(pk=parked.pk).update(not_before=timezone.now() + timedelta(hours=6))

    assert _panel(superuser) == {"found": "2", "repaired": "1", "frozen": "1", "parked": "1"}


def test_a_playlist_whose_wait_is_over_is_not_counted_as_parked(superuser: User, spotify_app: SpotifyApp) -> None:
    account = SpotifyAccount.objects.create(app=spotify_app, display_name="Due", spotify_user_id="due-user")
    playlist = PlaylistFactory(account=account)
    Playlist.objects.filter(pk=playlist.pk).update(not_before=timezone.now() - timedelta(minutes=1))

    assert _panel(superuser)["parked"] == "0"
