"""Every health move of an account leaves an AccountHealthChange row (its history), whichever path
moved it; what Spotify taught about an app's capabilities is in the audit trail's system door."""

from __future__ import annotations

from django.contrib.auth.models import User
from django.test import Client
from django.urls import reverse

from accounts import services
from accounts.models import AccountHealthChange, SpotifyAccount, SpotifyApp
from audit.models import AuditEvent
from tests.factories import SpotifyAccountFactory

Health = SpotifyAccount.Health


def _history(account: SpotifyAccount) -> list[tuple[str, str, str]]:
    return list(account.health_changes.order_by("at", "id").values_list("from_health", "to_health", "actor"))


def test_evidence_moves_and_an_operators_release_are_each_one_row(superuser: User, db: None) -> None:
    account = SpotifyAccountFactory()
    for _ in range(3):
        services.account_record_failure(account=account, error="HTTP 503")
    services.account_record_success(account=account)  # degraded recovers on its own
    for _ in range(10):
        services.account_record_failure(account=account, error="HTTP 503")
    services.account_record_failure(account=account, error="HTTP 503")  # already quarantined: no move
    admin = Client()
    admin.force_login(superuser)
    admin.post(
        reverse("admin:accounts_spotifyaccount_changelist"),
        {"action": "release_quarantine", "_selected_action": [str(account.pk)]},
    )

    assert _history(account) == [
        ("ok", "degraded", ""),
        ("degraded", "ok", ""),
        ("ok", "degraded", ""),
        ("degraded", "quarantined", ""),
        ("quarantined", "ok", "admin:root"),
    ]
    quarantined = account.health_changes.get(to_health=Health.QUARANTINED)
    assert quarantined.reason.startswith("10 consecutive failures")
    page = admin.get(reverse("admin:accounts_accounthealthchange_changelist"), {"account__id__exact": str(account.pk)})
    assert page.status_code == 200 and page.content.decode().count("admin:root") == 1


def test_a_health_set_to_what_it_already_is_writes_no_row(db: None) -> None:
    account = SpotifyAccountFactory()
    services.account_set_health(account=account, health=Health.REAUTH_REQUIRED, reason="invalid_grant")
    services.account_set_health(account=account, health=Health.REAUTH_REQUIRED, reason="invalid_grant again")
    assert AccountHealthChange.objects.filter(account=account).count() == 1


def test_a_capability_change_is_audited_once_by_the_system(spotify_app: SpotifyApp) -> None:
    services.app_record_capability(app=spotify_app, capability="several_albums", allowed=False)
    services.app_record_capability(app=spotify_app, capability="several_albums", allowed=False)  # known: nothing
    services.app_record_capability(app=spotify_app, capability="several_albums", allowed=True)
    rows = list(AuditEvent.objects.filter(action="spotify_app.capability").order_by("id"))
    assert [(row.actor, row.door, row.details["allowed"]) for row in rows] == [
        ("system", "system", False),
        ("system", "system", True),
    ]
    assert rows[0].target_id == str(spotify_app.pk)
