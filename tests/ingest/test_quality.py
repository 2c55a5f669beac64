"""Track data quality: checks → score → tier in bulk, counts in snapshots/metrics, admin filter and re-enrich."""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from prometheus_client.parser import text_string_to_metric_families

from devstack.emulator import SpotifyEmulator
from ingest.models import Track
from ingest.quality import tracks_quality_refresh_all, tracks_quality_tally, tracks_quality_update
from ingest.services import audio_features_fetch, ingest_albums_from_sources
from jobs.models import JobRun
from metrics.services_metrics import metric_snapshot_take
from tests.factories import AlbumFactory, ArtistFactory, TrackFactory
from tests.fixtures_clients import client_for

# Feature runs need an app still served audio features (see tests/fixtures_app_modes.py).
pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("extended_app")]

FEATURES = {"energy": 0.5, "valence": 0.5, "tempo": 120.0}


def _crafted() -> dict[str, Track]:
    complete_album = AlbumFactory(label="Warp", release_date="2001-05-01")
    bare_album = AlbumFactory(label="", release_date="")
    nameless = ArtistFactory(name="")
    tracks = {
        "perfect": TrackFactory(album=complete_album, isrc="GBAAA0100001", duration_ms=200000, audio_features=FEATURES),
        "no_isrc": TrackFactory(album=complete_album, isrc="", duration_ms=200000, audio_features=FEATURES),
        "not_fetched": TrackFactory(album=complete_album, isrc="GBAAA0100002", duration_ms=200000),
        "spotify_has_none": TrackFactory(
            album=complete_album,
            isrc="GBAAA0100003",
            duration_ms=200000,
            features_unavailable_until=timezone.now() + timedelta(days=7),
        ),
        "wreck": TrackFactory(album=bare_album, artist=nameless, isrc="", duration_ms=0),
    }
    return tracks


def _scored(tracks: dict[str, Track]) -> dict[str, tuple[int | None, str, list[str]]]:
    rows = Track.objects.in_bulk([t.pk for t in tracks.values()])
    return {label: (rows[t.pk].quality_score, rows[t.pk].quality_tier, rows[t.pk].quality_issues) for label, t in tracks.items()}


def test_checks_scores_and_tiers_of_crafted_tracks_in_one_update() -> None:
    tracks = _crafted()
    with CaptureQueriesContext(connection) as queries:
        changed = tracks_quality_update(track_ids=[t.pk for t in tracks.values()])
    assert changed == 5 and len(queries) == 1, "one UPDATE for the whole batch"
    assert _scored(tracks) == {
        "perfect": (100, "good", []),
        "no_isrc": (80, "good", ["missing_isrc"]),
        "not_fetched": (75, "fair", ["features_missing"]),
        "spotify_has_none": (85, "good", ["features_unavailable"]),
        "wreck": (
            0,
            "poor",
            [
                "missing_isrc",
                "features_missing",
                "missing_artist",
                "zero_duration",
                "missing_album_label",
                "missing_release_date",
            ],
        ),
    }
    assert tracks_quality_update(track_ids=[t.pk for t in tracks.values()]) == 0, "unchanged rows are not rewritten"
    tally = tracks_quality_tally()
    assert tally.counts == {"good": 3, "fair": 1, "poor": 1, "unscored": 0}
    assert (tally.scored, tally.average) == (5, (100 + 80 + 75 + 85 + 0) / 5)


def test_an_album_fix_rescores_its_tracks_and_refresh_all_scores_everything() -> None:
    tracks = _crafted()
    tracks_quality_refresh_all()
    bare = tracks["wreck"].album
    bare.label, bare.release_date = "Warp", "2001"
    bare.save()
    tracks_quality_update(album_ids=[bare.pk])
    assert "missing_album_label" not in Track.objects.get(pk=tracks["wreck"].pk).quality_issues


def test_ingest_and_feature_runs_score_what_they_touched(
    spotify_emulator: SpotifyEmulator, queue_albums: Callable[[list[str]], list[str]]
) -> None:
    queue_albums(spotify_emulator.catalog.album_ids()[:6])
    ingest_albums_from_sources()
    assert not Track.objects.filter(quality_tier="").exists()
    assert not Track.objects.exclude(quality_issues__contains=["features_missing"]).exists(), "no features fetched yet"
    audio_features_fetch()
    nulls = Track.objects.filter(features_unavailable_until__isnull=False)
    assert nulls.exists(), "the emulator catalog has tracks Spotify has no features for"
    assert all("features_unavailable" in t.quality_issues for t in nulls)
    assert not Track.objects.filter(quality_issues__contains=["features_missing"]).exists()


def _scrape(client: Any) -> dict[str, float]:
    text = client.get("/metrics").content.decode()
    return {
        sample.labels["tier"]: sample.value
        for family in text_string_to_metric_families(text)
        if family.name == "tracks_quality"
        for sample in family.samples
    }


def test_counts_by_tier_in_the_snapshot_metrics_and_dashboard(superuser: User) -> None:
    _crafted()
    Track.objects.create(spotify_id="u" * 22, name="Unscored", album=AlbumFactory(), artist=ArtistFactory())
    tracks_quality_update(track_ids=list(Track.objects.exclude(name="Unscored").values_list("pk", flat=True)))
    expected = {"good": 3, "fair": 1, "poor": 1, "unscored": 1}
    extra = metric_snapshot_take().extra
    assert extra["tracks_quality"] == expected
    assert (extra["tracks_quality_score"]["scored"], extra["tracks_quality_score"]["average"]) == (5, 68.0)
    # The snapshot's count until the next one: an hour old at most, never a count of every track per scrape.
    Track.objects.filter(name="Unscored").delete()
    assert _scrape(client_for(superuser)) == {tier: float(n) for tier, n in expected.items()}
    page = client_for(superuser).get("/admin/metrics/metricsnapshot/dashboard/").content.decode()
    assert 'id="tracks-quality"' in page and "<td>Tracks poor</td>" in page and "?quality=low" in page
    assert '<td>Tracks unscored</td><td class="">1</td>' in page
    metric_snapshot_take()
    assert _scrape(client_for(superuser))["unscored"] == 0


def test_low_quality_filter_and_re_enrich_action(
    operator: User, viewer: User, django_capture_on_commit_callbacks: Callable[..., Any]
) -> None:
    tracks = _crafted()
    tracks_quality_refresh_all()
    client = client_for(operator)
    page = client.get("/admin/ingest/track/?quality=low").content.decode()
    shown = {label for label, t in tracks.items() if f"/admin/ingest/track/{t.pk}/change/" in page}
    assert shown == {"not_fetched", "wreck"}
    assert set(tracks) == {
        label
        for label, t in tracks.items()
        if f"/admin/ingest/track/{t.pk}/change/" in client.get("/admin/ingest/track/").content.decode()
    }

    chosen = [tracks["spotify_has_none"], tracks["wreck"]]
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            "/admin/ingest/track/", {"action": "reenrich", "_selected_action": [t.pk for t in chosen]}, follow=True
        )
    assert "2 tracks queued for re-enrichment. fetch_audio_features queued (task " in response.content.decode()
    for track in Track.objects.filter(pk__in=[t.pk for t in chosen]):
        assert track.features_unavailable_until is None and track.features_fetched_at is None
    assert "features_missing" in Track.objects.get(pk=tracks["spotify_has_none"].pk).quality_issues
    run = JobRun.objects.get(job_name="fetch_audio_features")
    assert run.trigger == JobRun.Trigger.ADMIN and run.triggered_by == "admin:olive" and run.status == JobRun.Status.QUEUED

    with django_capture_on_commit_callbacks(execute=True):
        one = client.post("/admin/ingest/track/", {"action": "reenrich", "_selected_action": [tracks["perfect"].pk]}, follow=True)
    assert "1 track queued for re-enrichment" in one.content.decode()

    # Viewers see the filter but not the action.
    assert 'value="reenrich"' not in client_for(viewer).get("/admin/ingest/track/").content.decode()


def test_re_enriched_tracks_are_fetched_again(
    spotify_emulator: SpotifyEmulator,
    queue_albums: Callable[[list[str]], list[str]],
    operator: User,
    django_capture_on_commit_callbacks: Callable[..., Any],
) -> None:
    queue_albums(spotify_emulator.catalog.album_ids()[:3])
    ingest_albums_from_sources()
    audio_features_fetch()
    nulls = list(Track.objects.filter(features_unavailable_until__isnull=False).values_list("pk", flat=True))
    assert nulls and audio_features_fetch()["calls"] == 0
    with django_capture_on_commit_callbacks(execute=True):
        client_for(operator).post("/admin/ingest/track/", {"action": "reenrich", "_selected_action": nulls})
    again = audio_features_fetch()
    assert again["requested"] == len(nulls) and again["calls"] == math.ceil(len(nulls) / 100)


def test_the_tracks_api_filters_by_quality(viewer: User) -> None:
    from tests.fixtures_clients import token_client

    tracks = _crafted()
    tracks_quality_refresh_all()
    low = token_client(viewer).get("/api/v1/tracks?quality=low").json()
    rows = low["results"] if isinstance(low, dict) else low
    assert {row["spotify_id"] for row in rows} == {tracks["not_fetched"].spotify_id, tracks["wreck"].spotify_id}
    assert {row["quality_tier"] for row in rows} == {"fair", "poor"}
    assert token_client(viewer).get("/api/v1/tracks?quality=awful").status_code == 400


def test_the_refresh_command_scores_every_track() -> None:
    from io import StringIO

    from django.core.management import call_command

    _crafted()
    out = StringIO()
    call_command("tracks_quality_refresh", stdout=out)
    assert out.getvalue().strip() == "5 tracks rescored; good: 3, fair: 1, poor: 1, unscored: 0"


def test_the_api_re_enriches_the_worst_tracks_or_given_ids(
    operator: User, viewer: User, django_capture_on_commit_callbacks: Callable[..., Any]
) -> None:
    import json

    from tests.fixtures_clients import token_client

    tracks = _crafted()
    tracks_quality_refresh_all()
    Track.objects.update(features_fetched_at=timezone.now())

    def post(user: User, body: dict[str, Any]) -> Any:
        return token_client(user).post("/api/v1/tracks/re-enrich", data=json.dumps(body), content_type="application/json")

    assert post(viewer, {"quality": "low"}).status_code == 403
    assert post(operator, {}).status_code == 400
    assert post(operator, {"quality": "low", "track_ids": [1]}).status_code == 400
    assert post(operator, {"quality": "excellent"}).status_code == 400
    with django_capture_on_commit_callbacks(execute=True):
        response = post(operator, {"quality": "low", "limit": 1})
    assert response.status_code == 202
    assert response.json()["queued"] == 1
    run = JobRun.objects.get(task_id=response.json()["task_id"])
    assert run.job_name == "fetch_audio_features" and run.trigger == JobRun.Trigger.API
    assert list(Track.objects.filter(features_fetched_at__isnull=True)) == [tracks["wreck"]], "the worst first"

    with django_capture_on_commit_callbacks(execute=True):
        by_id = post(operator, {"track_ids": [tracks["perfect"].pk, 999999]})
    assert by_id.json()["queued"] == 1
    nothing = post(operator, {"track_ids": [999999]})
    assert nothing.json() == {"queued": 0, "task_id": None}
