"""Connector settings: per Spotify operation, enabled/timeout/batch/attempts/cooldown.

Rows live in the database (ConnectorSetting); workers read them through
`connector_setting(name)`, cached per process for CONNECTOR_CACHE_SECONDS and dropped at
once when a Redis version stamp changes (every save bumps it). README "Connector settings": "update the config table, then
reload" without the reload: a change reaches every worker
on its next call, no restart.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.contrib.admin.models import CHANGE, LogEntry
from django.db import transaction

from opsconsole.actors import actor_of
from opsconsole.redis import get_redis, key
from opsconsole.spotify.config import OperationLimits
from opsconsole.spotify.models import ConnectorSetting

logger = logging.getLogger(__name__)

CONNECTOR_CACHE_SECONDS = 5.0
EDITABLE_FIELDS = ("enabled", "timeout_seconds", "batch_size", "max_attempts", "cooldown_seconds", "note")

# The operations a job needs: any of them disabled and the job skips (work stays queued).
INGEST_CONNECTORS = ("spotify.token", "spotify.albums", "spotify.album_tracks")
AUDIO_FEATURES_CONNECTORS = ("spotify.token", "spotify.audio_features")
PLAYLISTS_CONNECTORS = ("spotify.token", "spotify.playlists")


def _default_batch_sizes() -> dict[str, int]:
    return {
        "spotify.albums": int(settings.INGEST_BATCH_SIZE),
        "spotify.album_tracks": 50,
        "spotify.audio_features": 100,
        "spotify.playlists": 100,
        "spotify.token": 1,
        "spotify.me": 1,
        "spotify.browse": 50,
    }


def connector_defaults() -> dict[str, dict[str, Any]]:
    """Today's settings values per connector: what the data migration seeds and what an unknown
    name (or a missing row) falls back to."""
    return {
        name: {
            "enabled": True,
            "timeout_seconds": float(settings.SPOTIFY_REQUEST_TIMEOUT),
            "batch_size": batch_size,
            "max_attempts": int(settings.SPOTIFY_MAX_ATTEMPTS),
            "cooldown_seconds": float(settings.BREAKER_BASE_COOLDOWN_SECONDS),
        }
        for name, batch_size in _default_batch_sizes().items()
    }


@dataclass(frozen=True)
class ConnectorConfig:
    name: str
    enabled: bool
    timeout_seconds: float
    batch_size: int
    max_attempts: int
    cooldown_seconds: float

    @property
    def limits(self) -> OperationLimits:
        return OperationLimits(
            timeout_seconds=self.timeout_seconds, max_attempts=self.max_attempts, cooldown_seconds=self.cooldown_seconds
        )


def _default_config(name: str) -> ConnectorConfig:
    values = connector_defaults().get(name) or {**connector_defaults()["spotify.albums"], "batch_size": 50}
    return ConnectorConfig(name=name, **values)


# --- cache -----------------------------------------------------------------------------------

_cache: dict[str, Any] = {"version": None, "loaded_at": 0.0, "configs": {}}
_cache_lock = threading.Lock()


def _version_key() -> str:
    return key("connectors", "version")


def _current_version() -> str:
    client = get_redis()
    version = client.get(_version_key())
    if version is None:
        # No stamp (first use, Redis flushed): start a new one so every process reloads.
        client.set(_version_key(), uuid.uuid4().hex, nx=True)
        version = client.get(_version_key())
    return str(version)


def connector_cache_invalidate() -> None:
    """Every process drops its cached settings on its next lookup."""
    get_redis().set(_version_key(), uuid.uuid4().hex)


def connector_settings_reload(*, actor: str) -> None:
    """Reload after rows were edited by SQL (README: "Connector settings") (without it they apply within
    CONNECTOR_CACHE_SECONDS anyway)."""
    connector_cache_invalidate()
    logger.warning("connector settings reloaded", extra={"actor": actor})


def _invalidate_now_and_on_commit() -> None:
    # Now: this transaction sees its own change. On commit: a process that reloaded in between
    # read the old row, so it must reload once more.
    connector_cache_invalidate()
    transaction.on_commit(connector_cache_invalidate)


def connector_settings_all() -> dict[str, ConnectorConfig]:
    """Every connector's settings (rows, else defaults), cached briefly per process."""
    version = _current_version()
    now = time.monotonic()
    with _cache_lock:
        fresh = _cache["version"] == version and now - _cache["loaded_at"] < CONNECTOR_CACHE_SECONDS
        if fresh:
            return dict(_cache["configs"])
    configs = {name: _default_config(name) for name in connector_defaults()}
    for row in ConnectorSetting.objects.all():
        configs[row.name] = ConnectorConfig(
            name=row.name,
            enabled=row.enabled,
            timeout_seconds=row.timeout_seconds,
            batch_size=row.batch_size,
            max_attempts=row.max_attempts,
            cooldown_seconds=row.cooldown_seconds,
        )
    with _cache_lock:
        _cache.update(version=version, loaded_at=now, configs=configs)
    return dict(configs)


def connector_setting(name: str) -> ConnectorConfig:
    """The settings of one operation; an unknown name gets the settings defaults (enabled)."""
    return connector_settings_all().get(name) or _default_config(name)


def connector_limits(name: str) -> OperationLimits:
    """The Spotify client's lookup (accounts glue passes it to every client it builds)."""
    return connector_setting(name).limits


def connectors_disabled(names: tuple[str, ...] | list[str]) -> list[str]:
    configs = connector_settings_all()
    return [name for name in names if name in configs and not configs[name].enabled]


def connectors_skip(names: tuple[str, ...] | list[str], *, work: str) -> dict[str, Any] | None:
    """The one "connector disabled → skip" rule: when an operator switched off a connector that
    `work` needs, it touches nothing and leaves its work queued. Returns the summary fields to
    report (`skipped`, `disabled_connectors`), or None when every connector is on."""
    disabled = connectors_disabled(names)
    if not disabled:
        return None
    logger.warning("skipped: connector disabled", extra={"work": work, "connectors": disabled})
    return {"skipped": "disabled", "disabled_connectors": disabled}


# --- writes -----------------------------------------------------------------------------------


def connector_settings_seed() -> int:
    """Create missing rows with the defaults (never overwrites an operator's values)."""
    defaults = connector_defaults()
    missing = set(defaults) - set(ConnectorSetting.objects.filter(name__in=list(defaults)).values_list("name", flat=True))
    if not missing:
        return 0
    created = len(
        ConnectorSetting.objects.bulk_create(
            [ConnectorSetting(name=name, updated_by="defaults", **defaults[name]) for name in sorted(missing)],
            ignore_conflicts=True,
        )
    )
    if created:
        _invalidate_now_and_on_commit()
    return created


def connector_setting_changed(*, setting: ConnectorSetting, changed: dict[str, tuple[Any, Any]], actor: str, via: str) -> None:
    """After a save from any door: reload everywhere and leave a structured log line."""
    _invalidate_now_and_on_commit()
    if changed:
        logger.warning(
            "connector setting changed",
            extra={
                "connector": setting.name,
                "actor": actor,
                "via": via,
                "changes": {field: {"from": old, "to": new} for field, (old, new) in changed.items()},
            },
        )


@transaction.atomic
def connector_setting_update(*, name: str, values: dict[str, Any], user: Any) -> tuple[ConnectorSetting, list[str]]:
    """Apply validated values to one connector (API door); audited like an admin change
    (a LogEntry naming the changed fields) and logged. Returns (row, changed field names)."""
    setting = ConnectorSetting.objects.select_for_update().get(name=name)
    changed: dict[str, tuple[Any, Any]] = {}
    for field, value in values.items():
        if field not in EDITABLE_FIELDS:
            continue
        old = getattr(setting, field)
        if old != value:
            changed[field] = (old, value)
            setattr(setting, field, value)
    if changed:
        setting.updated_by = actor_of(user, door="api")[:150]
        setting.full_clean()
        setting.save()
        LogEntry.objects.log_actions(
            user_id=user.pk,
            queryset=[setting],
            action_flag=CHANGE,
            change_message=[{"changed": {"fields": sorted(changed)}}, {"via": "api"}],
            single_object=True,
        )
    connector_setting_changed(setting=setting, changed=changed, actor=actor_of(user, door="api"), via="api")
    return setting, sorted(changed)
