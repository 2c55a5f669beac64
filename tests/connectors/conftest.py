from __future__ import annotations

import pytest

from opsconsole.spotify.connectors import connector_settings_seed
from tests.ingest.conftest import queue_albums  # noqa: F401
from tests.ops.conftest import client_for, token_client  # noqa: F401


@pytest.fixture
def connector_rows(db: None) -> None:
    """The rows migration 0004 creates (a transactional test elsewhere may have flushed them)."""
    connector_settings_seed()
