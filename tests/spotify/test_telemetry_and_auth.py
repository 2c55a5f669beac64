"""Telemetry and ingestion_issues shapes; the token endpoint."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from devstack.emulator import SpotifyEmulator
from spotify import (
    SpotifyClient,
    SpotifyInvalidGrant,
    SpotifyServerError,
    request_client_credentials,
    request_token_refresh,
)
from spotify.breaker import breaker_failure
from spotify.telemetry import ingestion_issues, ingestion_sources, telemetry_record, telemetry_snapshot

# Token buckets read their rate and burst from the database (rate-limit settings).
pytestmark = pytest.mark.django_db


def test_telemetry_counts_outcomes_per_operation(
    spotify_emulator: SpotifyEmulator, catalog_client: SpotifyClient, settings: Any
) -> None:
    settings.SPOTIFY_MAX_ATTEMPTS = 1
    album_id = spotify_emulator.catalog.album_ids()[0]
    catalog_client.album(album_id)
    spotify_emulator.fault("album", status=500, times=1)
    with pytest.raises(SpotifyServerError):
        catalog_client.album(album_id)
    albums = telemetry_snapshot()["spotify.albums"]
    assert {k: albums[k] for k in ("started", "succeeded", "failed", "skipped")} == {
        "started": 2,
        "succeeded": 1,
        "failed": 1,
        "skipped": 0,
    }
    assert albums["last_latency_ms"] is not None and albums["last_latency_ms"] >= 0
    assert "HTTP 500" in albums["last_error"]
    assert albums["last_error_at"] is not None
    assert telemetry_snapshot()["spotify.token"]["succeeded"] == 1


def test_ingestion_issues_name_open_circuits_and_last_errors(settings: Any) -> None:
    settings.BREAKER_FAILURE_THRESHOLD = 1
    breaker_failure("spotify.audio_features", error="HTTP 503 after 6 attempts")
    telemetry_record(source="spotify", operation="album_tracks", outcome="failed", error="HTTP 502 after 6 attempts")
    telemetry_record(source="spotify", operation="me", outcome="failed", error="HTTP 500")
    telemetry_record(source="spotify", operation="me", outcome="succeeded", latency_ms=12.5)
    issues = ingestion_issues()
    circuit = [i for i in issues if i["reason"] == "circuit_open"]
    last_errors = [i for i in issues if i["reason"] == "last_error"]
    assert len(circuit) == 1
    assert circuit[0]["source"] == "spotify" and circuit[0]["operation"] == "audio_features"
    assert circuit[0]["remaining_cooldown"] > 0
    assert [(i["source"], i["operation"], i["error"]) for i in last_errors] == [
        ("spotify", "album_tracks", "HTTP 502 after 6 attempts"),
    ]  # "me" recovered: its success came after the error
    sources = ingestion_sources()["spotify"]
    assert sources["circuits"]["audio_features"]["state"] == "open"
    assert sources["operations"]["me"]["succeeded"] == 1


def test_telemetry_rejects_unknown_outcomes() -> None:
    with pytest.raises(ValueError):
        telemetry_record(source="spotify", operation="me", outcome="exploded")  # type: ignore[arg-type]


def test_client_credentials_and_refresh_grants(spotify_emulator: SpotifyEmulator) -> None:
    app_grant = request_client_credentials(client_id="a1", client_secret="s")
    assert app_grant.expires_in == 3600 and app_grant.refresh_token is None
    user = spotify_emulator.create_user("kim")
    grant = request_token_refresh(client_id="a1", client_secret="s", refresh_token=user["refresh_token"])
    assert grant.refresh_token is None  # Spotify kept the old one: the caller keeps it too
    assert "playlist-modify-private" in grant.scope
    spotify_emulator.set_rotate_refresh_tokens(True)
    rotated = request_token_refresh(client_id="a1", client_secret="s", refresh_token=user["refresh_token"])
    assert rotated.refresh_token and rotated.refresh_token != user["refresh_token"]
    with pytest.raises(SpotifyInvalidGrant):
        request_token_refresh(client_id="a1", client_secret="s", refresh_token=user["refresh_token"])


def test_a_refresh_token_past_six_months_is_invalid_grant(spotify_emulator: SpotifyEmulator) -> None:
    user = spotify_emulator.create_user("lee", authorized_at=datetime.now(UTC) - timedelta(days=183))
    with pytest.raises(SpotifyInvalidGrant) as raised:
        request_token_refresh(client_id="a1", client_secret="s", refresh_token=user["refresh_token"])
    assert raised.value.status == 400 and raised.value.endpoint == "token"


def test_token_endpoint_retries_5xx(spotify_emulator: SpotifyEmulator) -> None:
    spotify_emulator.fault("token", status=503, times=2)
    assert request_client_credentials(client_id="a1", client_secret="s").access_token
    assert spotify_emulator.count("token") == 3
    spotify_emulator.fault("token", status=500)
    with pytest.raises(SpotifyServerError):
        request_client_credentials(client_id="a1", client_secret="s")
    assert spotify_emulator.count("token") == 3 + 6
