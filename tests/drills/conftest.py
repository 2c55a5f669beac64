"""The drills' `queue_albums`: sources submitted by "drill" (the helpers are in tests/fixtures_drills.py)."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from ingest.services import album_sources_submit


@pytest.fixture
def queue_albums() -> Callable[[list[str]], list[str]]:
    def queue(album_ids: list[str]) -> list[str]:
        results = album_sources_submit(raw_inputs=[f"spotify:album:{a}" for a in album_ids], submitted_by="drill")
        assert {r.status for r in results} == {"accepted"}
        return album_ids

    return queue
