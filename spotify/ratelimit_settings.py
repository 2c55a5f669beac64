"""Writes of the run-time rate limits (RateLimitSetting): one place for the admin and the API,
audited, and read back by every worker within seconds (spotify.ratelimit)."""

from __future__ import annotations

from typing import Any

from django.db import transaction

from audit.services import audit_record
from spotify.models import RateLimitSetting
from spotify.ratelimit import bucket_defaults, rate_limits_invalidate_now_and_on_commit


def rate_limit_effective(*, kind: str, ident: str = "") -> dict[str, Any]:
    """What a bucket runs with now and where it comes from (`account`, `default row`, `settings`)."""
    rows = {row.ident: row for row in RateLimitSetting.objects.filter(kind=kind, ident__in={ident, ""})}
    row = rows.get(ident) or rows.get("")
    if row is not None:
        return {"rate_per_second": row.rate_per_second, "burst": row.burst, "source": "row" if row.ident else "kind default"}
    burst, rate = bucket_defaults(kind)  # type: ignore[arg-type]
    return {"rate_per_second": rate, "burst": int(burst), "source": "settings"}


@transaction.atomic
def rate_limit_set(
    *, kind: str, ident: str, rate_per_second: float, burst: int, actor: str, label: str = "", note: str = ""
) -> tuple[RateLimitSetting, bool]:
    """Create or change the override of one app/account (`ident`) or of the whole kind (empty
    `ident`); every worker applies it within seconds. Returns (row, changed)."""
    setting = RateLimitSetting.objects.select_for_update().filter(kind=kind, ident=ident).first()
    before = None if setting is None else {"rate_per_second": setting.rate_per_second, "burst": setting.burst}
    if setting is None:
        setting = RateLimitSetting(kind=kind, ident=ident)
    setting.rate_per_second, setting.burst = float(rate_per_second), int(burst)
    setting.label = label or setting.label
    setting.note = note or setting.note
    setting.updated_by = actor[:150]
    setting.full_clean()
    after = {"rate_per_second": setting.rate_per_second, "burst": setting.burst}
    changed = before != after
    setting.save()
    rate_limit_changed(setting=setting, actor=actor, before=before, after=after)
    return setting, changed


def rate_limit_changed(
    *, setting: RateLimitSetting, actor: str, before: dict[str, Any] | None, after: dict[str, Any] | None, pk: Any = None
) -> None:
    """After a save or delete from any door: reload everywhere, record it."""
    rate_limits_invalidate_now_and_on_commit()
    audit_record(
        actor=actor,
        action="rate_limit.reset" if after is None else "rate_limit.change",
        target_type=str(RateLimitSetting._meta.verbose_name),
        target_id=str(pk or setting.pk),
        target_repr=setting.label or setting.ident or f"every {setting.kind}",
        details={"kind": setting.kind, "before": before, "after": after},
    )


@transaction.atomic
def rate_limit_reset(*, setting: RateLimitSetting, actor: str) -> None:
    """Drop an override: the bucket goes back to its kind's row or the settings default."""
    before = {"rate_per_second": setting.rate_per_second, "burst": setting.burst}
    pk = setting.pk
    setting.delete()
    rate_limit_changed(setting=setting, actor=actor, before=before, after=None, pk=pk)
