"""Circuit breakers in Redis: closed → open → half-open → closed, through the client."""

from __future__ import annotations

import time
from typing import Any

import pytest

from devstack.emulator import SpotifyEmulator
from spotify import CircuitOpen, SpotifyClient, SpotifyNotFound, SpotifyServerError
from spotify.breaker import (
    DEFAULT_BREAKERS,
    breaker_check,
    breaker_failure,
    breaker_reset,
    breaker_reset_all,
    breaker_state,
    breaker_states,
)

# Token buckets read their rate and burst from the database (rate-limit settings).
pytestmark = pytest.mark.django_db


@pytest.fixture
def fast_breaker(settings: Any) -> None:
    settings.BREAKER_FAILURE_THRESHOLD = 2
    settings.BREAKER_BASE_COOLDOWN_SECONDS = 0.3
    settings.BREAKER_MAX_COOLDOWN_SECONDS = 1.0
    settings.SPOTIFY_MAX_ATTEMPTS = 1


def _wait_for_state(name: str, state: str) -> None:
    # Waiting on the cooldown, not measuring it: the asserts are on states and counts.
    for _ in range(200):
        if breaker_state(name)["state"] == state:
            return
        time.sleep(0.02)
    raise AssertionError(f"{name} never became {state}: {breaker_state(name)}")


def test_closed_open_half_open_closed(
    spotify_emulator: SpotifyEmulator, catalog_client: SpotifyClient, fast_breaker: None
) -> None:
    album_id = spotify_emulator.catalog.album_ids()[0]
    spotify_emulator.fault("album", status=500)
    for _ in range(2):
        with pytest.raises(SpotifyServerError):
            catalog_client.album(album_id)
    state = breaker_state("spotify.albums")
    assert (state["state"], state["failure_streak"], state["opened_count"]) == ("open", 2, 1)
    assert "HTTP 500" in state["last_error"]

    with pytest.raises(CircuitOpen) as raised:
        catalog_client.several_albums([album_id])  # same operation family: albums
    assert raised.value.breaker == "spotify.albums"
    assert raised.value.remaining > 0
    assert spotify_emulator.count("album") == 2 and spotify_emulator.count("albums") == 0

    _wait_for_state("spotify.albums", "half_open")
    spotify_emulator.clear_faults()
    assert catalog_client.album(album_id)["id"] == album_id
    assert breaker_state("spotify.albums")["state"] == "closed"
    assert breaker_state("spotify.albums")["failure_streak"] == 0
    assert spotify_emulator.count("album") == 3
    # Other operations never noticed.
    assert breaker_state("spotify.album_tracks")["state"] == "closed"


def test_a_failed_probe_reopens_with_a_doubled_cooldown(
    spotify_emulator: SpotifyEmulator, catalog_client: SpotifyClient, fast_breaker: None
) -> None:
    spotify_emulator.fault("browse_new_releases", status=503)
    for _ in range(2):
        with pytest.raises(SpotifyServerError):
            catalog_client.new_releases()
    assert breaker_state("spotify.browse")["cooldown"] == pytest.approx(0.3)
    _wait_for_state("spotify.browse", "half_open")
    with pytest.raises(SpotifyServerError):
        catalog_client.new_releases()
    state = breaker_state("spotify.browse")
    assert (state["state"], state["opened_count"], state["cooldown"]) == ("open", 2, pytest.approx(0.6))
    _wait_for_state("spotify.browse", "half_open")
    with pytest.raises(SpotifyServerError):
        catalog_client.new_releases()
    assert breaker_state("spotify.browse")["cooldown"] == pytest.approx(1.0)  # capped at the max
    assert spotify_emulator.count("browse_new_releases") == 4


def test_half_open_lets_one_probe_through(fast_breaker: None) -> None:
    for _ in range(2):
        breaker_failure("spotify.me", error="HTTP 502")
    _wait_for_state("spotify.me", "half_open")
    breaker_check("spotify.me")  # the probe
    with pytest.raises(CircuitOpen):
        breaker_check("spotify.me")


def test_4xx_answers_do_not_open_the_circuit(
    spotify_emulator: SpotifyEmulator, catalog_client: SpotifyClient, fast_breaker: None
) -> None:
    for _ in range(4):
        with pytest.raises(SpotifyNotFound):
            catalog_client.album("0000000000000000000000")
    assert breaker_state("spotify.albums")["state"] == "closed"
    assert breaker_state("spotify.albums")["failure_streak"] == 0


def test_states_list_every_breaker_and_reset_closes_them(fast_breaker: None) -> None:
    states = breaker_states()
    assert [s["name"] for s in states] == list(DEFAULT_BREAKERS)
    assert set(states[0]) >= {
        "name",
        "state",
        "failure_streak",
        "open_until",
        "remaining_cooldown",
        "opened_count",
        "last_error",
    }
    for _ in range(2):
        breaker_failure("spotify.playlists", error="HTTP 500")
        breaker_failure("spotify.token", error="timeout")
    breaker_failure("spotify.custom", error="HTTP 500")
    assert "spotify.custom" in [s["name"] for s in breaker_states()]
    breaker_reset("spotify.playlists")
    assert breaker_state("spotify.playlists")["state"] == "closed"
    with pytest.raises(CircuitOpen):
        breaker_check("spotify.token")
    assert breaker_reset_all() == 1
    breaker_check("spotify.token")
    assert all(s["state"] == "closed" for s in breaker_states())


def test_an_outage_is_one_open_and_one_close_in_the_audit_trail(
    spotify_emulator: SpotifyEmulator, catalog_client: SpotifyClient, fast_breaker: None
) -> None:
    from audit.models import AuditEvent

    album_id = spotify_emulator.catalog.album_ids()[0]
    spotify_emulator.fault("album", status=503)
    for _ in range(2):
        with pytest.raises(SpotifyServerError):
            catalog_client.album(album_id)
    _wait_for_state("spotify.albums", "half_open")
    with pytest.raises(SpotifyServerError):
        catalog_client.album(album_id)  # a failed probe re-opens: the same outage, no new row
    _wait_for_state("spotify.albums", "half_open")
    spotify_emulator.clear_faults()
    catalog_client.album(album_id)
    catalog_client.album(album_id)  # closed already: nothing to record
    rows = AuditEvent.objects.filter(target_id="spotify.albums").order_by("id")
    assert [(row.action, row.actor, row.door) for row in rows] == [
        ("circuit_breaker.open", "system", "system"),
        ("circuit_breaker.close", "system", "system"),
    ]
    assert "503" in rows[0].details["error"]
