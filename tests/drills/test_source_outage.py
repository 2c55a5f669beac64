"""Drill: Spotify answers 5xx for a whole source (several-albums) until the outage is over.

The circuit opens, /api/health (staff) shows it, the CircuitBreakerOpen alert opens, dead
letters collect; after the outage an operator resets the breakers and replays the dead
letters through the API, and a real worker drains them: every source done, nothing pending,
the circuit closed, the alert resolved. The app is an extended-quota one (`extended_app`):
the outage is on the several-albums call, which a Development Mode app is refused anyway.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.test import Client

from alerts.evaluator import alerts_evaluate
from alerts.models import Alert
from ingest import services
from ingest.models import AlbumSource, DeadLetter, Track
from spotify.breaker import breaker_states
from tests.fixtures_alerts import rule_only

pytestmark = pytest.mark.slow


def _albums_circuit(client: Client) -> tuple[dict[str, Any], dict[str, Any]]:
    payload = client.get("/api/health").json()
    return payload, payload["ingestion"]["sources"].get("spotify.albums", {})


def test_a_source_outage_opens_the_circuit_collects_dead_letters_and_reset_plus_replay_drain_them(
    spotify_emulator: Any,
    extended_app: Any,
    queue_albums: Callable[[list[str]], list[str]],
    start_celery_worker: Callable[..., Any],
    superuser: Any,
    settings: Any,
) -> None:
    album_ids = queue_albums(spotify_emulator.catalog.album_ids()[:60])
    settings.INGEST_MAX_ATTEMPTS = 1  # dead-letter at the first failed attempt: the drill stays short
    spotify_emulator.fault("albums", status=503)  # until cleared

    summary = services.ingest_albums_from_sources(batch_size=100)
    assert summary["dead_lettered"] == 60 and summary["albums_done"] == 0, summary
    # Three chunks of 20 failed all their attempts; the third failure opened the circuit.
    assert spotify_emulator.count("albums") == 3 * settings.SPOTIFY_MAX_ATTEMPTS
    state = {s["name"]: s for s in breaker_states()}["spotify.albums"]
    assert state["state"] == "open" and state["opened_count"] == 1
    # The console pages on-call once the circuit has stayed open past the rule's minutes.
    rule = rule_only("CircuitBreakerOpen", channels=[])
    assert alerts_evaluate()["opened"] == 0  # not open for the rule's 5 minutes yet
    rule.params = {"minutes": 0}
    rule.save()
    assert alerts_evaluate()["opened"] == 1
    alert = Alert.objects.get(rule=rule, subject="spotify.albums")
    assert (alert.state, alert.severity) == ("open", "critical")

    staff = Client()
    staff.force_login(superuser)
    payload, circuit = _albums_circuit(staff)
    assert payload["status"] == "degraded"
    assert circuit["circuit"] == "open" and circuit["cooldown_remaining_s"] > 0
    assert any(
        (i["source"], i["operation"], i["reason"]) == ("spotify", "albums", "circuit_open")
        for i in payload["ingestion"]["issues"]
    )
    stats = staff.get("/api/v1/dlq/stats").json()
    assert stats["total_messages"] == 60 and stats["by_error_type"] == {"server_error": 60}
    # Anonymous probes learn nothing about the outage.
    assert Client().get("/api/health").json() == {"status": "degraded"}

    spotify_emulator.clear_faults()  # the outage is over
    settings.INGEST_MAX_ATTEMPTS = 5
    worker = start_celery_worker()
    reset = staff.post("/api/v1/circuit-breakers/reset-all")
    assert reset.status_code == 200, reset.content
    assert alerts_evaluate()["resolved"] == 1  # the reset closed the circuit: the alert resolves
    alert.refresh_from_db()
    assert (alert.state, alert.resolved_by) == ("resolved", "evaluator")
    replay = staff.post("/api/v1/dlq/replay/batch", {"batch_size": 100}, content_type="application/json")
    assert replay.status_code == 200, replay.content
    assert replay.json() == {"replayed_count": 60, "failed_count": 0, "errors": []}

    worker.wait_until(lambda: AlbumSource.objects.filter(status="done").count() == 60, timeout=45)
    assert not DeadLetter.objects.filter(status="pending").exists()
    assert DeadLetter.objects.filter(status="replayed").count() == 60
    assert Track.objects.count() == sum(len(spotify_emulator.catalog.album_track_ids(a)) for a in album_ids)
    assert spotify_emulator.count("albums") == 3 * settings.SPOTIFY_MAX_ATTEMPTS + 3
    _, circuit = _albums_circuit(staff)
    assert circuit["circuit"] == "closed"
    assert staff.get("/api/v1/dlq/stats").json()["total_messages"] == 0
