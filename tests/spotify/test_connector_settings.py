"""Connector settings: seeded per operation, edited by admin and API (audited), read at run time."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any

import pytest
from django.conf import settings as django_settings
from django.contrib.admin.models import CHANGE, LogEntry
from django.contrib.auth.models import User
from django.test import Client

from accounts.services import spotify_client_for_catalog
from devstack.emulator import SpotifyEmulator
from ingest.models import AlbumSource, Track
from ingest.services import audio_features_fetch, ingest_albums_from_sources
from playlists import services as playlist_services
from playlists.models import Playlist, PlaylistHistory
from spotify import SpotifyServerError
from spotify.breaker import breaker_state
from spotify.connectors import connector_setting, connector_settings_seed
from spotify.models import ConnectorSetting
from tests.factories import PlaylistFactory, PlaylistPolicyFactory, make_catalog
from tests.fixtures_clients import client_for, token_client

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("connector_rows")]

OPERATIONS = ("spotify.albums", "spotify.album_tracks", "spotify.audio_features", "spotify.playlists", "spotify.token")


def patch(client: Client, name: str, body: dict[str, Any]) -> Any:
    return client.patch(f"/api/v1/connectors/{name}", data=json.dumps(body), content_type="application/json")


def health(client: Client) -> dict[str, Any]:
    return client.get("/api/health").json()


def test_seeding_creates_one_row_per_operation_with_todays_settings_and_keeps_edits(settings: Any) -> None:
    ConnectorSetting.objects.filter(name="spotify.token").update(enabled=False)
    ConnectorSetting.objects.filter(name="spotify.albums").delete()
    assert connector_settings_seed() == 1
    assert not ConnectorSetting.objects.get(name="spotify.token").enabled, "an operator's value survives"
    rows = {row.name: row for row in ConnectorSetting.objects.all()}
    assert set(OPERATIONS) <= set(rows)
    albums = rows["spotify.albums"]
    assert albums.enabled
    assert albums.timeout_seconds == settings.SPOTIFY_REQUEST_TIMEOUT
    assert albums.max_attempts == settings.SPOTIFY_MAX_ATTEMPTS
    assert albums.cooldown_seconds == settings.BREAKER_BASE_COOLDOWN_SECONDS
    assert albums.batch_size == settings.INGEST_BATCH_SIZE
    assert rows["spotify.audio_features"].batch_size == 100


def test_viewers_read_operators_write(viewer: User, operator: User) -> None:
    listed = token_client(viewer).get("/api/v1/connectors")
    assert listed.status_code == 200
    assert {c["name"] for c in listed.json()["connectors"]} >= set(OPERATIONS)
    assert patch(token_client(viewer), "spotify.albums", {"enabled": False}).status_code == 403
    assert patch(Client(), "spotify.albums", {"enabled": False}).status_code in (401, 403)
    assert connector_setting("spotify.albums").enabled
    assert patch(token_client(operator), "spotify.albums", {"enabled": False}).status_code == 200
    assert not connector_setting("spotify.albums").enabled


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"timeout_seconds": 0}, "timeout_seconds"),
        ({"timeout_seconds": "soon"}, "timeout_seconds"),
        ({"max_attempts": 0}, "max_attempts"),
        ({"max_attempts": 50}, "max_attempts"),
        ({"cooldown_seconds": -5}, "cooldown_seconds"),
        ({"batch_size": 101}, "batch_size"),
        ({"enabled": "perhaps"}, "enabled"),
        ({"name": "spotify.other"}, "name"),
        ({}, "non_field_errors"),
    ],
)
def test_bad_values_are_400_with_field_errors_and_change_nothing(operator: User, body: dict[str, Any], field: str) -> None:
    before = ConnectorSetting.objects.values().get(name="spotify.audio_features")
    response = patch(token_client(operator), "spotify.audio_features", body)
    assert response.status_code == 400, response.content
    assert field in response.json()["errors"], response.json()
    assert ConnectorSetting.objects.values().get(name="spotify.audio_features") == before
    assert not LogEntry.objects.exists()


def test_an_unknown_connector_is_404(operator: User) -> None:
    assert patch(token_client(operator), "spotify.nope", {"enabled": False}).status_code == 404


def test_an_api_change_is_audited_in_the_admin_history_and_logged(operator: User, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="spotify.connectors"):
        response = patch(token_client(operator), "spotify.albums", {"enabled": False, "timeout_seconds": 30, "note": "INC-42"})
    assert response.status_code == 200
    assert response.json()["changed"] == ["enabled", "note", "timeout_seconds"]
    assert response.json()["updated_by"] == "api:olive"
    entry = LogEntry.objects.get()
    assert entry.user == operator and entry.action_flag == CHANGE
    assert entry.object_repr == "spotify.albums"
    assert json.loads(entry.change_message)[0] == {"changed": {"fields": ["enabled", "note", "timeout_seconds"]}}
    assert entry.get_change_message().startswith("Changed enabled, note and timeout_seconds.")
    record = next(r for r in caplog.records if r.getMessage() == "connector setting changed")
    assert record.connector == "spotify.albums" and record.actor == "api:olive" and record.via == "api"
    assert record.changes["enabled"] == {"from": True, "to": False}
    assert record.changes["timeout_seconds"]["to"] == 30

    # The same values again: no change, no audit row.
    assert patch(token_client(operator), "spotify.albums", {"enabled": False}).json()["changed"] == []
    assert LogEntry.objects.count() == 1


def test_the_admin_edits_a_connector_and_django_audits_it(operator: User) -> None:
    setting = ConnectorSetting.objects.get(name="spotify.audio_features")
    client = client_for(operator)
    page = client.get(f"/admin/spotify/connectorsetting/{setting.pk}/change/")
    assert page.status_code == 200
    form = {
        "enabled": "",
        "timeout_seconds": "12",
        "batch_size": "500",
        "max_attempts": "3",
        "cooldown_seconds": "20",
        "note": "",
    }
    refused = client.post(f"/admin/spotify/connectorsetting/{setting.pk}/change/", form)
    assert refused.status_code == 200 and "takes at most 100 items" in refused.content.decode()
    saved = client.post(f"/admin/spotify/connectorsetting/{setting.pk}/change/", {**form, "batch_size": "40"})
    assert saved.status_code == 302
    assert connector_setting("spotify.audio_features").enabled is False
    assert connector_setting("spotify.audio_features").batch_size == 40
    entry = LogEntry.objects.get()
    assert entry.user == operator and "Enabled" in entry.get_change_message()
    assert ConnectorSetting.objects.get(pk=setting.pk).updated_by == "admin:olive"
    assert client.get("/admin/spotify/connectorsetting/add/").status_code == 403


def test_disabled_features_are_skipped_and_re_enabling_resumes_without_a_restart(
    spotify_emulator: SpotifyEmulator, queue_albums: Callable[[list[str]], list[str]], operator: User, superuser: User
) -> None:
    # An extended app still served audio features: the only kind that resumes fetching them.
    spotify_emulator.set_app_mode(django_settings.SPOTIFY_CLIENT_ID, "extended")
    spotify_emulator.grant_audio_features(django_settings.SPOTIFY_CLIENT_ID)
    queue_albums(spotify_emulator.catalog.album_ids()[:3])
    ingest_albums_from_sources()
    assert patch(token_client(operator), "spotify.audio_features", {"enabled": False}).status_code == 200
    spotify_emulator.reset_counts()

    summary = audio_features_fetch()
    assert summary["skipped"] == "disabled" and summary["disabled_connectors"] == ["spotify.audio_features"]
    assert spotify_emulator.count("audio_features") == 0
    report = health(client_for(superuser))
    assert report["ingestion"]["sources"]["spotify.audio_features"]["enabled"] is False
    assert report["ingestion"]["sources"]["spotify.albums"]["enabled"] is True
    assert {
        "source": "spotify",
        "operation": "audio_features",
        "connector": "spotify.audio_features",
        "reason": "disabled",
        "last_error": "",
    } in report["ingestion"]["issues"]
    assert report["status"] == "degraded" and "ingestion" in report["problems"]
    dashboard = client_for(superuser).get("/admin/metrics/metricsnapshot/dashboard/").content.decode()
    assert "<code>spotify.audio_features</code> disabled" in dashboard

    assert patch(token_client(operator), "spotify.audio_features", {"enabled": True, "batch_size": 25}).status_code == 200
    resumed = audio_features_fetch()
    assert resumed["skipped"] == "" and resumed["calls"] == spotify_emulator.count("audio_features") > 1
    assert resumed["requested"] == Track.objects.count()
    assert spotify_emulator.count("audio_features") == -(-Track.objects.count() // 25), "the new batch size is used"
    report = health(client_for(superuser))
    assert not [i for i in report["ingestion"]["issues"] if i["reason"] == "disabled"]


def test_disabled_albums_leave_sources_queued(
    spotify_emulator: SpotifyEmulator, queue_albums: Callable[[list[str]], list[str]], operator: User
) -> None:
    queue_albums(spotify_emulator.catalog.album_ids()[:2])
    patch(token_client(operator), "spotify.album_tracks", {"enabled": False})
    summary = ingest_albums_from_sources()
    assert summary["skipped"] == "disabled" and summary["claimed"] == 0
    assert set(AlbumSource.objects.values_list("status", flat=True)) == {"queued"}
    assert spotify_emulator.count("albums") == 0


def test_the_client_uses_the_operations_attempts_and_cooldown(
    spotify_emulator: SpotifyEmulator, operator: User, settings: Any
) -> None:
    settings.BREAKER_FAILURE_THRESHOLD = 2
    patch(token_client(operator), "spotify.albums", {"max_attempts": 2, "cooldown_seconds": 77})
    client = spotify_client_for_catalog()
    spotify_emulator.fault("albums", status=503)
    album_ids = spotify_emulator.catalog.album_ids()[:2]
    for _ in range(2):
        with pytest.raises(SpotifyServerError):
            client.several_albums(album_ids)
    assert spotify_emulator.count("albums") == 4, "two attempts per call, not SPOTIFY_MAX_ATTEMPTS"
    state = breaker_state("spotify.albums")
    assert state["state"] == "open" and state["cooldown"] == 77


def test_playlist_sync_waits_while_playlists_are_disabled(
    spotify_emulator: SpotifyEmulator, make_account: Any, operator: User
) -> None:
    make_catalog(artists=30, tracks_per_artist=2)
    playlist = PlaylistFactory(account=make_account("conn"), policy=PlaylistPolicyFactory(name="Focus"), index=1)
    patch(token_client(operator), "spotify.playlists", {"enabled": False})
    result = playlist_services.playlist_sync(playlist=playlist, actor="test")
    assert result["skipped"] == "disabled"
    assert spotify_emulator.count("create_playlist") == 0
    skip = PlaylistHistory.objects.get(playlist=playlist, action=PlaylistHistory.Action.SKIP)
    assert skip.details == {"operation": "sync", "reason": "disabled", "connectors": ["spotify.playlists"]}

    patch(token_client(operator), "spotify.playlists", {"enabled": True})
    assert playlist_services.playlist_sync(playlist=playlist, actor="test")["created"]
    assert Playlist.objects.get(pk=playlist.pk).sync_state == Playlist.SyncState.SYNCED


def test_a_row_changed_by_sql_applies_after_reload(operator: User, viewer: User) -> None:
    assert connector_setting("spotify.albums").enabled
    ConnectorSetting.objects.filter(name="spotify.albums").update(enabled=False)  # docs/runbooks/connector-settings.md: rows edited by SQL, then reload
    assert token_client(viewer).post("/api/v1/connectors/reload").status_code == 403
    response = token_client(operator).post("/api/v1/connectors/reload")
    assert response.status_code == 200
    assert next(c for c in response.json()["connectors"] if c["name"] == "spotify.albums")["enabled"] is False
    assert not connector_setting("spotify.albums").enabled


def test_the_client_uses_the_operations_timeout(spotify_emulator: SpotifyEmulator, operator: User) -> None:
    album_id = spotify_emulator.catalog.album_ids()[0]
    patch(token_client(operator), "spotify.albums", {"timeout_seconds": 0.5, "max_attempts": 1})
    spotify_emulator.fault("album", status=None, latency=1.5, times=1)
    with pytest.raises(SpotifyServerError, match="timeout"):
        spotify_client_for_catalog().album(album_id)

    patch(token_client(operator), "spotify.albums", {"timeout_seconds": 5})
    spotify_emulator.fault("album", status=None, latency=1.5, times=1)
    assert spotify_client_for_catalog().album(album_id)["id"] == album_id
    assert spotify_emulator.count("album") == 2, "one attempt each: the longer timeout waited the slow answer out"


def test_the_changelist_toggles_enabled_for_operators_and_is_read_only_for_viewers(operator: User, viewer: User) -> None:
    rows = list(ConnectorSetting.objects.order_by("name"))
    assert 'name="form-0-enabled"' not in client_for(viewer).get("/admin/spotify/connectorsetting/").content.decode()
    client = client_for(operator)
    assert 'name="form-0-enabled"' in client.get("/admin/spotify/connectorsetting/").content.decode()
    form: dict[str, Any] = {
        "form-TOTAL_FORMS": str(len(rows)),
        "form-INITIAL_FORMS": str(len(rows)),
        "form-MIN_NUM_FORMS": "0",
        "form-MAX_NUM_FORMS": "1000",
        "_save": "Save",
    }
    for index, row in enumerate(rows):
        form[f"form-{index}-id"] = str(row.pk)
        if row.name != "spotify.playlists":
            form[f"form-{index}-enabled"] = "on"
    assert client.post("/admin/spotify/connectorsetting/", form).status_code == 302
    assert not connector_setting("spotify.playlists").enabled and connector_setting("spotify.albums").enabled
    entry = LogEntry.objects.get()
    assert entry.object_repr == "spotify.playlists" and entry.user == operator
