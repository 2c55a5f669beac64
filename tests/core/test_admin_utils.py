"""Big changelists never load encrypted columns: no page shows them and each costs a decrypt per row.
Their row checkboxes and row links are Django's own."""

from __future__ import annotations

from html.parser import HTMLParser

import pytest
from django.contrib.auth.models import User
from django.db import connection
from django.db.models import Model
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from accounts.models import AuthorizationRequest, SpotifyAccount
from bench.fleet import FleetSizes, fleet_populate
from core.admin_utils import encrypted_fields
from ingest.models import DeadLetter, Track
from jobs.models import JobRun
from playlists.models import Playlist
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


class _Rows(HTMLParser):
    """(checkbox attributes, first link of the row) of each row of a changelist's result table."""

    def __init__(self) -> None:
        super().__init__()
        self.rows: list[tuple[dict[str, str | None], str | None]] = []
        self._in_body = self._in_th = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if tag == "tbody":
            self._in_body = True
        elif self._in_body and tag == "tr":
            self.rows.append(({}, None))
        elif self._in_body and tag == "th":
            self._in_th = True
        elif self._in_body and tag == "input" and found.get("class") == "action-select":
            self.rows[-1] = (found, self.rows[-1][1])
        elif self._in_th and tag == "a" and self.rows[-1][1] is None:
            self.rows[-1] = (self.rows[-1][0], found.get("href"))

    def handle_endtag(self, tag: str) -> None:
        if tag == "tbody":
            self._in_body = False
        elif tag == "th":
            self._in_th = False


@pytest.mark.parametrize("model", [SpotifyAccount, Playlist, Track, JobRun, DeadLetter])
def test_each_row_has_a_checkbox_with_its_pk_and_a_link_to_its_change_page(superuser: User, model: type[Model]) -> None:
    fleet_populate(sizes=FleetSizes.uniform(3))
    opts = model._meta
    response = client_for(superuser).get(reverse(f"admin:{opts.app_label}_{opts.model_name}_changelist"))
    assert b'id="action-toggle"' in response.content  # the select-all box of the header
    parser = _Rows()
    parser.feed(response.content.decode())
    assert len(parser.rows) == 3
    for checkbox, link in parser.rows:
        assert (checkbox["type"], checkbox["name"]) == ("checkbox", "_selected_action")
        assert link == reverse(f"admin:{opts.app_label}_{opts.model_name}_change", args=[checkbox["value"]])
    assert {checkbox["value"] for checkbox, _ in parser.rows} == {
        str(pk) for pk in model._default_manager.values_list("pk", flat=True)
    }


def test_an_action_runs_on_the_rows_whose_checkboxes_are_posted(superuser: User) -> None:
    fleet_populate(sizes=FleetSizes.uniform(3))
    client = client_for(superuser)
    parser = _Rows()
    parser.feed(client.get("/admin/playlists/playlist/").content.decode())
    chosen = [checkbox["value"] for checkbox, _ in parser.rows[:2]]
    response = client.post("/admin/playlists/playlist/", {"action": "freeze", "_selected_action": chosen})
    assert response.status_code == 302
    assert sorted(str(pk) for pk in Playlist.objects.filter(frozen=True).values_list("pk", flat=True)) == sorted(chosen)


def test_the_deferred_columns_follow_what_the_query_joins() -> None:
    assert encrypted_fields(Playlist.objects.all()) == []
    assert encrypted_fields(Playlist.objects.select_related("account__app", "policy")) == [
        "account__access_token",
        "account__refresh_token",
        "account__app__client_secret",
    ]
    # select_related() with no names joins every non-null foreign key: the request's app, not
    # its (nullable) account.
    assert encrypted_fields(AuthorizationRequest.objects.select_related()) == ["code_verifier", "app__client_secret"]
    assert encrypted_fields(SpotifyAccount.objects.select_related("app"), shown=["access_token"]) == [
        "refresh_token",
        "app__client_secret",
    ]
