"""Sampler invariants on generated catalogs (hypothesis), plus the documented edge cases."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta

import pytest
import time_machine
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from accounts.models import SpotifyAccount
from ingest.models import Track
from playlists.models import Playlist, PlaylistHistory, PlaylistPolicy
from playlists.sampler import sample_tracks
from playlists.services import playlist_build_snapshot
from tests.factories import PlaylistFactory, PlaylistPolicyFactory, make_catalog

pytestmark = pytest.mark.django_db

catalogs = st.fixed_dictionaries(
    {
        "tracks_per_artist": st.lists(st.integers(min_value=1, max_value=12), min_size=1, max_size=8),
        "featureless_share": st.sampled_from([0.0, 0.3, 1.0]),
        "seed": st.integers(min_value=0, max_value=2**62),
    }
)
policies = st.fixed_dictionaries(
    {
        "size": st.integers(min_value=1, max_value=30),
        "artist_cap": st.integers(min_value=1, max_value=4),
        "energy": st.one_of(st.none(), st.tuples(st.floats(0, 0.5), st.floats(0.5, 1))),
        "tracks_without_features_pass": st.booleans(),
        "short_pool": st.sampled_from(["strict", "relax"]),
    }
)


def _features(share: float):  # type: ignore[no-untyped-def]
    return lambda rng: None if rng.random() < share else {"energy": round(rng.random(), 3), "tempo": rng.uniform(60, 200)}


def _passes_features(track: Track, policy: PlaylistPolicy) -> bool:
    bounds = policy.feature_ranges.get("energy")
    if not bounds:
        return True
    value = (track.audio_features or {}).get("energy")
    if value is None:
        return policy.tracks_without_features_pass
    return bounds["min"] <= value <= bounds["max"]


def _setup(offline_account: SpotifyAccount, catalog: dict, spec: dict) -> tuple[Playlist, list[Track]]:
    tracks = make_catalog(
        artists=len(catalog["tracks_per_artist"]), tracks_per_artist=catalog["tracks_per_artist"],
        features=_features(catalog["featureless_share"]), seed=catalog["seed"] % 1000,
    )
    ranges = {"energy": {"min": spec["energy"][0], "max": spec["energy"][1]}} if spec["energy"] else {}
    policy = PlaylistPolicyFactory(
        size=spec["size"], artist_cap=spec["artist_cap"], cooldown_days=5, feature_ranges=ranges,
        tracks_without_features_pass=spec["tracks_without_features_pass"], short_pool=spec["short_pool"],
    )
    return PlaylistFactory(account=offline_account, policy=policy), tracks


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(catalog=catalogs, spec=policies)
def test_sampler_respects_size_artist_cap_feature_ranges_and_fills_what_the_pool_allows(
    offline_account: SpotifyAccount, catalog: dict, spec: dict
) -> None:
    # Each example in its own savepoint, rolled back: examples never see each other's catalog.
    with transaction.atomic():
        playlist, tracks = _setup(offline_account, catalog, spec)
        policy = playlist.policy
        result = sample_tracks(policy=policy, playlist_id=playlist.pk, seed=catalog["seed"], now=timezone.now())
        by_id = {t.pk: t for t in tracks}
        picked = [by_id[i] for i in result.track_ids]

        assert len(picked) == len(set(result.track_ids)) <= policy.size
        assert all(_passes_features(t, policy) for t in picked)
        eligible = [t for t in tracks if _passes_features(t, policy)]
        per_artist = Counter(t.artist_id for t in eligible)
        if policy.short_pool == "strict":
            assert max(Counter(t.artist_id for t in picked).values(), default=0) <= policy.artist_cap
            assert len(picked) == min(policy.size, sum(min(n, policy.artist_cap) for n in per_artist.values()))
            assert result.relaxed == {}
        else:
            assert len(picked) == min(policy.size, len(eligible))
            over_cap = {t.pk for t in picked if Counter(x.artist_id for x in picked)[t.artist_id] > policy.artist_cap}
            if over_cap:
                assert set(result.relaxed.get("artist_cap", [])) <= over_cap
                assert result.relaxed.get("artist_cap")
        transaction.set_rollback(True)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(catalog=catalogs, spec=policies)
def test_same_seed_same_catalog_gives_the_same_tracks_in_the_same_order(
    offline_account: SpotifyAccount, catalog: dict, spec: dict
) -> None:
    with transaction.atomic():
        playlist, _ = _setup(offline_account, catalog, spec)
        snapshot = playlist_build_snapshot(playlist=playlist, seed=catalog["seed"], actor="test")
        twin = PlaylistFactory(account=offline_account, policy=playlist.policy)
        again = playlist_build_snapshot(playlist=twin, seed=snapshot.seed, actor="test")
        first = list(snapshot.items.values_list("track_id", flat=True))
        assert first == list(again.items.values_list("track_id", flat=True))
        assert snapshot.seed == catalog["seed"] and again.track_count == snapshot.track_count
        transaction.set_rollback(True)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(catalog=catalogs, spec=policies, seed=st.integers(min_value=0, max_value=2**62))
def test_strict_snapshot_never_repeats_a_track_within_the_cooldown(
    offline_account: SpotifyAccount, catalog: dict, spec: dict, seed: int
) -> None:
    spec = {**spec, "short_pool": "strict"}
    with transaction.atomic():
        playlist, _ = _setup(offline_account, catalog, spec)
        first = playlist_build_snapshot(playlist=playlist, seed=seed, actor="test")
        second = playlist_build_snapshot(playlist=playlist, seed=seed + 1, actor="test")
        first_ids = set(first.items.values_list("track_id", flat=True))
        second_ids = set(second.items.values_list("track_id", flat=True))
        assert not first_ids & second_ids
        if second.track_count < playlist.policy.size:
            assert second.notes["short_by"] == playlist.policy.size - second.track_count
            assert second.notes["reason"]
        transaction.set_rollback(True)


def test_tracks_return_after_the_cooldown(offline_account: SpotifyAccount) -> None:
    make_catalog(artists=5, tracks_per_artist=2)
    policy = PlaylistPolicyFactory(size=10, artist_cap=2, cooldown_days=5)
    playlist = PlaylistFactory(account=offline_account, policy=policy)
    with time_machine.travel(timezone.now() - timedelta(days=20), tick=False):
        first = playlist_build_snapshot(playlist=playlist, actor="test")
    with time_machine.travel(timezone.now() - timedelta(days=10), tick=False):
        # Replaced 10 days ago: the first snapshot's tracks are out of their cooldown now.
        playlist_build_snapshot(playlist=playlist, actor="test")
    third = playlist_build_snapshot(playlist=playlist, actor="test")
    assert first.track_count == 10
    assert set(third.items.values_list("track_id", flat=True)) == set(first.items.values_list("track_id", flat=True))


def test_short_pool_strict_records_why_in_history(offline_account: SpotifyAccount) -> None:
    make_catalog(artists=3, tracks_per_artist=5)
    policy = PlaylistPolicyFactory(size=10, artist_cap=2, short_pool="strict")
    playlist = PlaylistFactory(account=offline_account, policy=policy)
    snapshot = playlist_build_snapshot(playlist=playlist, actor="test")
    assert snapshot.track_count == 6
    assert snapshot.notes["short_by"] == 4
    assert "15 tracks by 3 artists" in snapshot.notes["reason"]
    history = PlaylistHistory.objects.get(playlist=playlist, action="snapshot")
    assert history.details["short_by"] == 4 and history.details["snapshot_id"] == snapshot.pk


def test_short_pool_relax_fills_and_names_the_rule_and_tracks(offline_account: SpotifyAccount) -> None:
    tracks = make_catalog(artists=3, tracks_per_artist=5)
    policy = PlaylistPolicyFactory(size=10, artist_cap=2, short_pool="relax")
    playlist = PlaylistFactory(account=offline_account, policy=policy)
    snapshot = playlist_build_snapshot(playlist=playlist, actor="test")
    assert snapshot.track_count == 10
    relaxed = snapshot.notes["relaxed"]
    assert list(relaxed) == ["artist_cap"] and len(relaxed["artist_cap"]) == 4
    assert set(relaxed["artist_cap"]) <= {t.spotify_id for t in tracks}

    # All 15 tracks are cooling down except 5: the cooldown has to give way for 5 of them.
    again = playlist_build_snapshot(playlist=playlist, actor="test")
    assert again.track_count == 10
    assert len(again.notes["relaxed"]["cooldown"]) == 5


def test_catalog_without_any_features_still_yields_full_playlists(offline_account: SpotifyAccount) -> None:
    make_catalog(artists=40, tracks_per_artist=3, features=None)
    policy = PlaylistPolicyFactory(feature_ranges={"energy": {"min": 0.2, "max": 0.8}, "tempo": {"min": 90}})
    snapshot = playlist_build_snapshot(playlist=PlaylistFactory(account=offline_account, policy=policy), actor="test")
    assert snapshot.track_count == 50


def test_featureless_tracks_are_left_out_when_the_policy_says_so(offline_account: SpotifyAccount) -> None:
    make_catalog(artists=40, tracks_per_artist=3, features=None)
    policy = PlaylistPolicyFactory(feature_ranges={"energy": {"min": 0.2}}, tracks_without_features_pass=False)
    snapshot = playlist_build_snapshot(playlist=PlaylistFactory(account=offline_account, policy=policy), actor="test")
    assert snapshot.track_count == 0 and snapshot.notes["short_by"] == 50


def test_source_filter_by_label_and_album(offline_account: SpotifyAccount) -> None:
    indie = make_catalog(artists=4, tracks_per_artist=3, label="Indie")
    make_catalog(artists=4, tracks_per_artist=3, label="Major")
    policy = PlaylistPolicyFactory(size=50, artist_cap=5, source_filter={"labels": ["Indie"]})
    snapshot = playlist_build_snapshot(playlist=PlaylistFactory(account=offline_account, policy=policy), actor="test")
    assert set(snapshot.items.values_list("track_id", flat=True)) == {t.pk for t in indie}

    album = indie[0].album
    policy = PlaylistPolicyFactory(size=50, artist_cap=5, source_filter={"album_ids": [album.spotify_id]})
    snapshot = playlist_build_snapshot(playlist=PlaylistFactory(account=offline_account, policy=policy), actor="test")
    assert set(snapshot.items.values_list("track_id", flat=True)) == {t.pk for t in indie if t.album_id == album.pk}


def test_snapshot_is_a_handful_of_queries_whatever_the_catalog_size(offline_account: SpotifyAccount) -> None:
    make_catalog(artists=300, tracks_per_artist=10)
    playlist = PlaylistFactory(account=offline_account, policy=PlaylistPolicyFactory())
    with CaptureQueriesContext(connection) as queries:
        snapshot = playlist_build_snapshot(playlist=playlist, actor="test")
    assert snapshot.track_count == 50
    # Lock row, sample (1 query unless the window grows), snapshot, items, playlist, history.
    assert len(queries) <= 10
    assert not any("FROM \"ingest_track\"" in q["sql"] and "LIMIT" not in q["sql"] for q in queries.captured_queries)
