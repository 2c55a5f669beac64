"""Every API list, whose rows PostgreSQL writes (`core/rows.py` `json_rows`), says exactly what
its serializer says of the same rows: same fields in the same order, same values and the same
JSON types, awkward text included."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from django.conf import settings
from django.contrib.auth.models import User
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from rest_framework import serializers
from rest_framework.utils.encoders import JSONEncoder

from accounts.api import AccountSerializer
from accounts.models import SpotifyAccount
from accounts.selectors import accounts_annotated
from ingest.models import DeadLetter, Track
from ingest.selectors import tracks_list
from ingest.serializers import DeadLetterSerializer, TrackSerializer
from jobs.models import JobRun
from jobs.serializers import JobRunSerializer
from playlists.api import PlaylistSerializer
from playlists.models import Playlist, PlaylistSnapshot
from playlists.selectors import playlists_list
from tests.factories import PlaylistFactory, TrackFactory
from tests.fixtures_clients import client_for

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("short_probe_timeouts")]

# Text PostgreSQL and orjson must escape alike: quotes, backslash, control characters, the two
# line separators JavaScript refuses, markup and characters past the BMP.
AWKWARD = 'Ünïcode “q” "quoted" \\ back\tslash\n\x01\u2028\u2029 </script> 🎵'


def _same_json(actual: list[dict[str, Any]], expected: Any) -> None:
    expected_rows = json.loads(json.dumps([dict(row) for row in expected], cls=JSONEncoder))
    assert [list(row) for row in actual] == [list(row) for row in expected_rows]
    # Dumped again, so that 120 and 120.0 or "1" and 1 would differ.
    assert json.dumps(actual) == json.dumps(expected_rows)


def _page(user: User, path: str, key: str) -> list[dict[str, Any]]:
    with CaptureQueriesContext(connection) as queries:
        response = client_for(user).get(path)
    assert response.status_code == 200, response.content
    assert any("row_to_json" in query["sql"] for query in queries.captured_queries), "the rows were not written by PostgreSQL"
    rows: list[dict[str, Any]] = response.json()[key]
    return rows


def test_tracks(viewer: User) -> None:
    now = timezone.now()
    TrackFactory(
        audio_features={"energy": 0.5, "tempo": 120.0, "key": 5}, features_fetched_at=now, isrc="USRC17607839", explicit=True
    )
    TrackFactory(
        name=AWKWARD,
        features_unavailable_until=now + timedelta(days=7),
        quality_score=40,
        quality_tier="poor",
        quality_issues=["no_isrc", AWKWARD],
    )
    TrackFactory(features_fetched_at=now.replace(microsecond=0), audio_features={}, duration_ms=0, disc_number=2, track_number=12)
    TrackFactory(features_fetched_at=now.replace(microsecond=1000), audio_features={"nested": {"list": [1, 2.5, None, "x"]}})
    rows = _page(viewer, "/api/v1/tracks?page_size=10", "results")
    _same_json(rows, TrackSerializer(tracks_list(), many=True).data)
    assert len(rows) == Track.objects.count() == 4


def test_accounts(make_account: Callable[..., SpotifyAccount], viewer: User) -> None:
    now = timezone.now()
    warning = timedelta(days=settings.REAUTH_WARNING_DAYS)
    due_soon = make_account("soon", authorized_at=now - timedelta(days=182) + warning - timedelta(hours=1))
    make_account("later", authorized_at=(now - timedelta(days=10)).replace(microsecond=0))
    SpotifyAccount.objects.filter(pk=due_soon.pk).update(
        health=SpotifyAccount.Health.DEGRADED,
        health_reason=AWKWARD,
        last_error=AWKWARD,
        last_error_at=now,
        consecutive_failures=3,
    )
    PlaylistFactory.create_batch(2, account=due_soon)
    rows = _page(viewer, "/api/v1/accounts/list", "results")
    expected = AccountSerializer(
        accounts_annotated(SpotifyAccount.objects.select_related("app")).order_by("display_name", "id"), many=True
    ).data
    _same_json(rows, expected)
    assert [(row["spotify_user_id"], row["reauth_due_soon"], row["playlist_count"]) for row in rows] == [
        ("later", False, 0),
        ("soon", True, 2),
    ]


def test_accounts_warning_window_is_read_for_each_page(
    make_account: Callable[..., SpotifyAccount], viewer: User, settings: Any
) -> None:
    make_account("soon", authorized_at=timezone.now() - timedelta(days=150))
    settings.REAUTH_WARNING_DAYS = 14
    assert _page(viewer, "/api/v1/accounts/list", "results")[0]["reauth_due_soon"] is False
    settings.REAUTH_WARNING_DAYS = 60
    assert _page(viewer, "/api/v1/accounts/list", "results")[0]["reauth_due_soon"] is True


def test_playlists(make_account: Callable[..., SpotifyAccount], viewer: User) -> None:
    account = make_account("owner")
    synced = PlaylistFactory(account=account, name=AWKWARD, description=AWKWARD, last_synced_at=timezone.now(), frozen=True)
    snapshot = PlaylistSnapshot.objects.create(playlist=synced, seed=7, track_count=42)
    Playlist.objects.filter(pk=synced.pk).update(current_snapshot=snapshot, retired_at=timezone.now().replace(microsecond=0))
    PlaylistFactory(account=account, parked_work="sync")
    rows = _page(viewer, "/api/v1/playlists", "results")
    _same_json(rows, PlaylistSerializer(playlists_list(), many=True).data)
    assert sorted(row["track_count"] for row in rows) == [0, 42]


def test_job_runs(viewer: User) -> None:
    now = timezone.now()
    JobRun.objects.create(
        job_name="ingest_albums",
        task_name="ingest.tasks.x",
        task_id="t1",
        status=JobRun.Status.SUCCESS,
        started_at=now,
        finished_at=now,
        duration_ms=12,
        summary={"ok": 3, "note": AWKWARD},
        args=[1, "a"],
        kwargs={"k": 1.5},
    )
    JobRun.objects.create(
        job_name="refresh_tokens",
        task_name="accounts.tasks.y",
        task_id="t2",
        status=JobRun.Status.FAILED,
        error=AWKWARD,
        started_at=now.replace(microsecond=0),
    )
    rows = _page(viewer, "/api/v1/job-runs", "results")
    _same_json(rows, JobRunSerializer(JobRun.objects.order_by("-started_at", "-pk"), many=True).data)
    assert len(rows) == 2


def test_dead_letters(viewer: User) -> None:
    now = timezone.now()
    for n, message in enumerate([AWKWARD, "plain"]):
        DeadLetter.objects.create(
            source_service="spotify.albums",
            operation="ingest_album",
            error_type="HTTPError",
            error_message=message,
            payload={"album": n, "text": message, "ratio": 0.25},
            fingerprint=f"f{n}",
            first_seen=now,
            last_seen=now - timedelta(seconds=n),
        )
    rows = _page(viewer, "/api/v1/dlq/messages", "messages")
    _same_json(rows, DeadLetterSerializer(DeadLetter.objects.order_by("-last_seen", "-pk"), many=True).data)


class _Unknown(serializers.ModelSerializer):
    odd = serializers.SerializerMethodField()

    class Meta:
        model = Track
        fields = ["spotify_id", "odd"]

    def get_odd(self, track: Track) -> str:
        return track.spotify_id[::-1]


def test_a_field_postgresql_cannot_write_is_refused_by_name() -> None:
    from core.rows import json_rows

    with pytest.raises(TypeError, match="odd: SerializerMethodField .* make it an annotation"):
        json_rows(Track.objects.all(), _Unknown)
