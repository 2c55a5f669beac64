"""An operator's filter for the playlists not in sync (`/api/v1/playlists?sync_state=failed`) is
counted and paged through the partial index of the unsynced ones (`playlist_unsynced_idx`), never
by reading every playlist of the fleet: with sequential scans priced out, both the page's query and
its exact count name the index (BENCHMARKS.md, "The fleet ×10")."""

from __future__ import annotations

import pytest

from bench.fleet import FleetSizes, fleet_populate
from playlists import selectors
from playlists.filters import PlaylistFilter
from playlists.models import Playlist
from tests.ingest.test_admin_search_plans import _plan

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("state", ["failed", "pending"])
def test_the_playlists_not_in_sync_are_listed_and_counted_through_their_index(state: str) -> None:
    fleet_populate(sizes=FleetSizes.uniform(40))
    Playlist.objects.filter(pk__in=Playlist.objects.order_by("pk").values("pk")[:3]).update(sync_state=state)
    page = PlaylistFilter({"sync_state": state}, queryset=selectors.playlists_list()).qs
    assert page.count() == Playlist.objects.filter(sync_state=state).count() >= 3

    assert "playlist_unsynced_idx" in _plan(page[:50])
    assert "playlist_unsynced_idx" in _plan(page.order_by().values("pk"))
