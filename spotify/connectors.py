"""Connector settings: per Spotify operation, enabled/timeout/batch/attempts/cooldown.

Rows live in the database (ConnectorSetting); workers read them through
`connector_setting(name)`, cached per process for CONNECTOR_CACHE_SECONDS and dropped at
once when a Redis version stamp changes (every save bumps it). "Update the config table, then
reload" without the reload: a change reaches every worker on its next call, no restart; the
reload is left for rows edited by SQL (docs/runbooks/connector-settings.md).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.contrib.admin.models import CHANGE, LogEntry
from django.db import transaction

from audit.services import audit_record
from core.actors import actor_of
from core.stamped_cache import StampedCache
from spotify.config import OperationLimits
from spotify.models import ConnectorSetting

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


def _load_configs() -> dict[str, ConnectorConfig]:
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
    return configs


_cache = StampedCache("connectors", ttl_seconds=CONNECTOR_CACHE_SECONDS, load=_load_configs)


def connector_cache_invalidate() -> None:
    """Every process drops its cached settings on its next lookup."""
    _cache.invalidate()


def connector_settings_reload(*, actor: str) -> None:
    """The runbook's "config reload" after editing rows by SQL (without it they apply within
    CONNECTOR_CACHE_SECONDS anyway)."""
    connector_cache_invalidate()
    logger.warning("connector settings reloaded", extra={"actor": actor})
    audit_record(actor=actor, action="connectors.reload", target_type="connector setting", target_repr="every connector")


def _invalidate_now_and_on_commit() -> None:
    _cache.invalidate_now_and_on_commit()


def connector_settings_all() -> dict[str, ConnectorConfig]:
    """Every connector's settings (rows, else defaults), cached briefly per process."""
    return dict(_cache.get())


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
        audit_record(
            actor=actor,
            action="connector.change",
            target=setting,
            details={"via": via, "changes": {field: {"from": old, "to": new} for field, (old, new) in changed.items()}},
        )
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
        connector_setting_changed(setting=setting, changed=changed, actor=actor_of(user, door="api"), via="api")
        # Django's admin history shows API changes too (the audit row above is the trail).
        LogEntry.objects.log_actions(
            user_id=user.pk,
            queryset=[setting],
            action_flag=CHANGE,
            change_message=[{"changed": {"fields": sorted(changed)}}, {"via": "api"}],
            single_object=True,
        )
    else:
        connector_setting_changed(setting=setting, changed=changed, actor=actor_of(user, door="api"), via="api")
    return setting, sorted(changed)
