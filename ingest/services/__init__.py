"""Ingest: album sources queue → albums, artists, tracks → audio features; dead letters.

Every door (admin, API, Celery task, command) calls these functions; they hold the rules.
"""

from __future__ import annotations

from ingest.services.albums import ingest_albums_from_sources
from ingest.services.audio_features import audio_features_fetch
from ingest.services.common import OP_AUDIO_FEATURES, OP_INGEST_ALBUM, catalog_app, error_type_of
from ingest.services.dead_letters import (
    ReplayError,
    ReplayHandler,
    dead_letter_record,
    dead_letter_replayer_register,
    dead_letters_purge,
    dead_letters_purge_before,
    dead_letters_replay,
    dead_letters_replay_preview,
)
from ingest.services.sources import SubmitResult, SubmitStatus, album_sources_requeue, album_sources_submit

__all__ = [
    "OP_AUDIO_FEATURES",
    "OP_INGEST_ALBUM",
    "ReplayError",
    "ReplayHandler",
    "SubmitResult",
    "SubmitStatus",
    "album_sources_requeue",
    "album_sources_submit",
    "audio_features_fetch",
    "catalog_app",
    "dead_letter_record",
    "dead_letter_replayer_register",
    "dead_letters_purge",
    "dead_letters_purge_before",
    "dead_letters_replay",
    "dead_letters_replay_preview",
    "error_type_of",
    "ingest_albums_from_sources",
]
