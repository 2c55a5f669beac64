from __future__ import annotations

from celery import shared_task

from accounts import services
from accounts.models import SpotifyAccount


@shared_task(name="refresh_tokens", expires=1500)
def refresh_tokens() -> dict[str, object]:
    from spotify.connectors import connectors_skip

    # An operator switched the token endpoint off (docs/runbooks/connector-settings.md).
    if skipped := connectors_skip(["spotify.token"], work="refresh_tokens"):
        return {**skipped, "refreshed": 0, "failed": 0, "checked": 0}
    results = services.accounts_refresh_tokens()
    return {"refreshed": sum(r.ok for r in results), "failed": sum(not r.ok for r in results), "checked": len(results)}


@shared_task(name="account_refresh_token_one")
def account_refresh_token_one(account_id: str) -> dict[str, object]:
    account = SpotifyAccount.objects.select_related("app").get(pk=account_id)
    [result] = services.accounts_refresh_tokens(accounts=[account], force=True)
    return {"account_id": account_id, "ok": result.ok, "detail": result.detail}
