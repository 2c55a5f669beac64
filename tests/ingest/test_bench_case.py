"""The ingest benchmark case runs small and leaves nothing behind."""

from __future__ import annotations

import pytest

import bench.ingest
from ingest.models import AlbumSource, Track


@pytest.mark.django_db
def test_bench_case_meets_the_call_minimum_in_both_modes_and_rolls_back(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(bench.ingest, "ALBUMS", 25)
    figures = bench.ingest.ingest_albums_case()
    for mode in ("extended", "development"):
        assert figures[mode]["albums_done"] == 25
        assert figures[mode]["calls_over_minimum"] == 0, figures[mode]
        assert figures[mode]["tracks_per_second"] > 0
    assert figures["extended"]["spotify_calls"]["albums"] == 2
    assert figures["development"]["spotify_calls"]["album"] == 25
    assert figures["development"]["features_stored"] == 0
    assert not AlbumSource.objects.exists() and not Track.objects.exists()
