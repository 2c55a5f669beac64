"""Long commands show a bar on a terminal and plain lines elsewhere (core.progress)."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from django.core.management import call_command

from core.progress import Progress
from ingest.models import AlbumSource
from tests.factories import TrackFactory


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_off_a_terminal_progress_is_plain_lines_at_each_tenth() -> None:
    out = io.StringIO()
    with Progress(total=40, desc="Queueing", unit="links", stream=out) as progress:
        for _ in range(40):
            progress.update()
    lines = out.getvalue().splitlines()
    assert "\r" not in out.getvalue()
    assert lines[0] == "Queueing: 1/40 links (2%)"
    assert lines[-1] == "Queueing: 40/40 links (100%)"
    assert len(lines) == 11


def test_on_a_terminal_progress_is_a_bar() -> None:
    out = Terminal()
    with Progress(total=4, desc="Rescoring", unit="tracks", stream=out) as progress:
        progress.update(2)
        progress.update(2)
    text = out.getvalue()
    assert "\r" in text and "4/4" in text and "100%" in text and "|" in text


@pytest.mark.django_db
def test_ingest_urls_reports_progress_on_stderr_and_keeps_stdout_for_results(tmp_path: Path) -> None:
    links = tmp_path / "links.txt"
    links.write_text("".join(f"spotify:album:{n:022d}\n" for n in range(1200)))
    out, err = io.StringIO(), io.StringIO()

    call_command("ingest_urls", str(links), stdout=out, stderr=err)

    assert AlbumSource.objects.count() == 1200
    assert err.getvalue().splitlines() == ["Queueing: 500/1200 links (41%)", "Queueing: 1000/1200 links (83%)", "Queueing: 1200/1200 links (100%)"]
    assert "1200 queued" in out.getvalue()


@pytest.mark.django_db
def test_tracks_quality_refresh_reports_progress() -> None:
    TrackFactory.create_batch(5)
    err = io.StringIO()
    call_command("tracks_quality_refresh", stdout=io.StringIO(), stderr=err)
    assert err.getvalue().splitlines()[-1].startswith("Rescoring: ")
    assert err.getvalue().splitlines()[-1] == "Rescoring: 5/5 tracks (100%)"
