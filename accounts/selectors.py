"""Reads for accounts: the rate limiter as an operator checks it before re-enabling work."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from django.db.models import BooleanField, DateTimeField, Expression, ExpressionWrapper, F, Q, QuerySet, Value

from accounts.models import REFRESH_TOKEN_LIFETIME, SpotifyAccount, SpotifyApp, reauth_due_soon_q
from core.redis import get_redis, key
from spotify.ratelimit import bucket_state

WORKABLE_HEALTH = (SpotifyAccount.Health.OK, SpotifyAccount.Health.DEGRADED)


def accounts_workable_q(prefix: str = "") -> Q:
    """SpotifyAccount.work_blocked_reason as a filter: active, and healthy or degraded.
    `prefix` reaches the account through a relation (`account__`)."""
    return Q(**{f"{prefix}is_active": True, f"{prefix}health__in": WORKABLE_HEALTH})


def _iso(epoch: float | None) -> str | None:
    return datetime.fromtimestamp(epoch, tz=UTC).isoformat() if epoch else None


def _present(state: dict[str, float | None]) -> dict[str, Any]:
    return {
        "tokens": round(state["tokens"] or 0.0, 2),
        "capacity": state["capacity"],
        "rate_per_second": state["rate_per_second"],
        "last_429_at": _iso(state["last_429_at"]),
        "blocked_until": _iso(state["blocked_until"]),
        "blocked": state["blocked_until"] is not None,
    }


def ratelimit_state_for_app(app: SpotifyApp) -> dict[str, Any]:
    return {"kind": "app", "id": str(app.pk), "name": app.name, **_present(bucket_state("app", str(app.pk)))}


def ratelimit_state_for_account(account: SpotifyAccount) -> dict[str, Any]:
    return {
        "kind": "account",
        "id": str(account.pk),
        "name": account.display_name,
        **_present(bucket_state("account", str(account.pk))),
    }


def ratelimit_overview(*, blocked_only: bool = False) -> dict[str, list[dict[str, Any]]]:
    """Every app's bucket, and the buckets of accounts that called Spotify recently (a key exists)."""
    apps = [ratelimit_state_for_app(app) for app in SpotifyApp.objects.order_by("name")]
    prefix = key("bucket", "account", "")
    account_ids = [k[len(prefix) :] for k in get_redis().scan_iter(match=prefix + "*", count=1000)]
    accounts = [
        ratelimit_state_for_account(account)
        for account in SpotifyAccount.objects.filter(pk__in=account_ids).order_by("display_name")
    ]
    if blocked_only:
        apps = [row for row in apps if row["blocked"]]
        accounts = [row for row in accounts if row["blocked"]]
    return {"apps": apps, "accounts": accounts}


# Per-account figures that apps above accounts contribute to its API (playlists: `playlist_count`),
# so accounts shows them without importing those apps; registered from their AppConfig.ready().
ACCOUNT_ANNOTATIONS: dict[str, Callable[[], Expression]] = {}


def account_annotation_register(name: str, expression: Callable[[], Expression]) -> None:
    ACCOUNT_ANNOTATIONS[name] = expression


def accounts_annotated(queryset: QuerySet[SpotifyAccount]) -> QuerySet[SpotifyAccount]:
    return queryset.annotate(**{name: expression() for name, expression in ACCOUNT_ANNOTATIONS.items()})


def accounts_list() -> QuerySet[SpotifyAccount]:
    """The accounts API list's rows (core.rows writes them), in display-name order: the registered
    figures, and `SpotifyAccount.reauth_due_at` and `reauth_due_soon` by the same rule
    (`reauth_warning_cutoff`). Rows only: a model instance could not take its properties' names."""
    reauth = {
        "reauth_due_at": ExpressionWrapper(F("authorized_at") + Value(REFRESH_TOKEN_LIFETIME), output_field=DateTimeField()),
        "reauth_due_soon": ExpressionWrapper(reauth_due_soon_q(), output_field=BooleanField()),
    }
    return accounts_annotated(SpotifyAccount.objects.all()).annotate(**reauth).order_by("display_name", "id")
