"""A connector switched off and on again while one Celery worker keeps running (no restart).

(spotify_emulator comes before celery_worker_process: the worker is pointed at it when it starts.)
"""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest
from django.contrib.auth.models import User

from devstack.emulator import SpotifyEmulator
from ingest.models import AlbumSource
from jobs.models import JobRun
from jobs.services import job_enqueue
from spotify.connectors import connector_settings_seed
from tests.fixtures_clients import client_for, token_client

pytestmark = pytest.mark.slow


def _set_enabled(operator: User, enabled: bool) -> None:
    response = token_client(operator).patch(
        "/api/v1/connectors/spotify.albums", data=json.dumps({"enabled": enabled}), content_type="application/json"
    )
    assert response.status_code == 200, response.content


def test_a_disabled_ingest_is_skipped_by_the_worker_and_resumes_when_re_enabled(
    spotify_emulator: SpotifyEmulator,
    celery_worker_process,
    queue_albums: Callable[[list[str]], list[str]],
    operator: User,
    superuser: User,
) -> None:  # type: ignore[no-untyped-def]
    connector_settings_seed()
    queue_albums(spotify_emulator.catalog.album_ids()[:4])
    _set_enabled(operator, False)

    run = job_enqueue("ingest_albums_from_sources", trigger=JobRun.Trigger.API, triggered_by="test")
    skipped = celery_worker_process.wait_until(lambda: JobRun.objects.filter(pk=run.pk, status="success").first(), timeout=60)
    assert skipped.summary["skipped"] == "disabled"
    assert skipped.summary["disabled_connectors"] == ["spotify.albums"]
    assert set(AlbumSource.objects.values_list("status", flat=True)) == {"queued"}
    assert spotify_emulator.count("albums") == 0
    issues = client_for(superuser).get("/api/health").json()["ingestion"]["issues"]
    assert any(i["reason"] == "disabled" and i["connector"] == "spotify.albums" for i in issues)

    _set_enabled(operator, True)
    run = job_enqueue("ingest_albums_from_sources", trigger=JobRun.Trigger.API, triggered_by="test")
    done = celery_worker_process.wait_until(lambda: JobRun.objects.filter(pk=run.pk, status="success").first(), timeout=60)
    assert done.summary["albums_done"] == 4
    assert set(AlbumSource.objects.values_list("status", flat=True)) == {"done"}
