"""Big changelists never load encrypted columns: no page shows them and each costs a decrypt per row."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from django.db import connection
from django.test.utils import CaptureQueriesContext

from bench.fleet import FleetSizes, fleet_populate
from tests.fixtures_clients import client_for

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("path", "table"),
    [("/admin/accounts/spotifyaccount/", "accounts_spotifyaccount"), ("/admin/playlists/playlist/", "playlists_playlist")],
)
def test_the_rows_of_a_changelist_carry_no_token_or_secret(superuser: User, path: str, table: str) -> None:
    fleet_populate(sizes=FleetSizes.uniform(5))
    with CaptureQueriesContext(connection) as queries:
        response = client_for(superuser).get(path)
    assert response.status_code == 200 and response.content.count(b'class="action-select"') == 5
    # The page's rows (with what they join), not the filters' choices.
    rows = [q["sql"] for q in queries.captured_queries if q["sql"].startswith(f'SELECT "{table}"."id"')]
    selects = [sql.split(f' FROM "{table}"', 1)[0] for sql in rows]
    assert len(selects) == 1 and "display_name" in selects[0]
    secret = [c for c in selects if any(name in c for name in ('access_token"', 'refresh_token"', 'client_secret"'))]
    assert secret == []
