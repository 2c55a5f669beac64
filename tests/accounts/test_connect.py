"""Connect and re-authorize through the emulator's consent page and the real callback view."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
import time_machine
from django.test import Client

from accounts.models import AuthorizationRequest, SpotifyAccount, SpotifyApp
from accounts.oauth import AuthorizationRefused, authorization_request_create, authorization_request_revoke
from audit.models import AuditEvent
from devstack.emulator import SpotifyEmulator, consent_over_http
from tests.fixtures_oauth import REDIRECT_URI, callback_query, follow_link

pytestmark = pytest.mark.django_db

Health = SpotifyAccount.Health
Status = AuthorizationRequest.Status


def test_connect_creates_an_ok_account_with_encrypted_tokens(oauth_app: SpotifyApp, spotify_emulator: SpotifyEmulator) -> None:
    link = authorization_request_create(app=oauth_app, actor="admin:olive")
    assert link.request.code_verifier not in link.authorize_url
    page = follow_link(link.authorize_url, user_id="ana", display_name="Ana Listener")
    assert page.status_code == 200
    assert "Account connected" in page.content.decode()
    account = SpotifyAccount.objects.get(spotify_user_id="ana")
    assert (account.app, account.display_name, account.health) == (oauth_app, "Ana Listener", Health.OK)
    assert account.refresh_token.startswith("r-") and account.access_token.startswith("a-")
    assert account.token_expires_at is not None and account.scopes.split() == [
        "playlist-modify-private",
        "playlist-modify-public",
        "playlist-read-private",
    ]
    request = AuthorizationRequest.objects.get()
    assert (request.status, request.account, request.spotify_user_id) == (Status.COMPLETED, account, "ana")
    event = AuditEvent.objects.get(action="account.connect")
    assert (event.actor, event.door, event.outcome) == ("admin:olive", "admin", "ok")
    assert event.details["completed_by"] == "Spotify user ana"
    assert AuditEvent.objects.filter(action="authorization.request", outcome="ok").count() == 1


def test_cancel_marks_the_request_denied_and_adds_nothing(oauth_app: SpotifyApp) -> None:
    link = authorization_request_create(app=oauth_app, actor="admin:olive")
    page = follow_link(link.authorize_url, user_id="ana", agree=False)
    assert page.status_code == 200 and "Access not granted" in page.content.decode()
    assert AuthorizationRequest.objects.get().status == Status.DENIED
    assert not SpotifyAccount.objects.exists()


@pytest.mark.parametrize("case", ["forged", "replayed", "expired", "missing"])
def test_unusable_state_gets_a_400_page_and_changes_nothing(oauth_app: SpotifyApp, case: str) -> None:
    link = authorization_request_create(app=oauth_app, actor="admin:olive")
    query = callback_query(consent_over_http(link.authorize_url, user_id="ana"))
    client = Client()
    if case == "forged":
        query["state"] = "forged-" + query["state"]
    elif case == "missing":
        query.pop("state")
    elif case == "replayed":
        assert client.get("/oauth/spotify/callback", query).status_code == 200
    if case == "expired":
        with time_machine.travel(timedelta(hours=73)):
            page = client.get("/oauth/spotify/callback", query)
    else:
        page = client.get("/oauth/spotify/callback", query)
    assert page.status_code == 400
    assert "This link cannot be used" in page.content.decode()
    assert page["Referrer-Policy"] == "no-referrer"
    assert SpotifyAccount.objects.count() == (1 if case == "replayed" else 0)
    expected = {"forged": Status.PENDING, "missing": Status.PENDING, "replayed": Status.COMPLETED, "expired": Status.EXPIRED}
    assert AuthorizationRequest.objects.get().status == expected[case]


def test_revoked_link_no_longer_works(oauth_app: SpotifyApp) -> None:
    link = authorization_request_create(app=oauth_app, actor="admin:olive")
    assert authorization_request_revoke(request=link.request, actor="admin:olive") is True
    assert authorization_request_revoke(request=link.request, actor="admin:olive") is False
    page = follow_link(link.authorize_url, user_id="ana")
    assert page.status_code == 400
    assert not SpotifyAccount.objects.exists()
    assert AuditEvent.objects.filter(action="authorization.revoke").count() == 1


def test_reauthorizing_restores_a_reauth_required_account(
    oauth_app: SpotifyApp, make_account: Callable[..., SpotifyAccount]
) -> None:
    old = timezone_now() - timedelta(days=183)
    account = make_account("ana", authorized_at=old, health=Health.REAUTH_REQUIRED)
    SpotifyAccount.objects.filter(pk=account.pk).update(consecutive_failures=4, last_error="invalid_grant")
    old_refresh = account.refresh_token
    link = authorization_request_create(app=oauth_app, actor="api:deploy-bot", account=account)
    page = follow_link(link.authorize_url, user_id="ana")
    assert page.status_code == 200 and "re-authorized" in page.content.decode()
    account.refresh_from_db()
    assert account.health == Health.OK and account.consecutive_failures == 0 and account.last_error == ""
    assert account.refresh_token != old_refresh
    assert account.authorized_at > timezone_now() - timedelta(minutes=1)
    assert not account.reauth_due_soon
    event = AuditEvent.objects.get(action="account.reauthorize")
    assert (event.actor, event.door, event.target_id) == ("api:deploy-bot", "api", str(account.pk))


def test_a_fresh_connect_by_an_existing_user_reauthorizes_instead_of_duplicating(
    oauth_app: SpotifyApp, make_account: Callable[..., SpotifyAccount]
) -> None:
    account = make_account("ana", health=Health.REAUTH_REQUIRED)
    link = authorization_request_create(app=oauth_app, actor="admin:olive")
    assert follow_link(link.authorize_url, user_id="ana").status_code == 200
    assert SpotifyAccount.objects.count() == 1
    account.refresh_from_db()
    assert account.health == Health.OK
    assert AuditEvent.objects.filter(action="account.reauthorize").count() == 1


def test_reauthorization_completed_by_another_user_is_refused(
    oauth_app: SpotifyApp, make_account: Callable[..., SpotifyAccount]
) -> None:
    account = make_account("ana", health=Health.REAUTH_REQUIRED)
    before = (account.refresh_token, account.authorized_at)
    link = authorization_request_create(app=oauth_app, actor="admin:olive", account=account)
    page = follow_link(link.authorize_url, user_id="bob")
    assert page.status_code == 403
    body = page.content.decode()
    assert "Wrong Spotify account" in body and "bob" in body and "ana" in body
    account.refresh_from_db()
    assert (account.refresh_token, account.authorized_at, account.health) == (*before, Health.REAUTH_REQUIRED)
    assert not SpotifyAccount.objects.filter(spotify_user_id="bob").exists()
    request = AuthorizationRequest.objects.get()
    assert request.status == Status.FAILED and "not the account's user ana" in request.status_reason
    assert AuditEvent.objects.get(action="account.reauthorize").outcome == "refused"


def test_narrower_scopes_keep_the_account_degraded_naming_what_is_missing(oauth_app: SpotifyApp, settings: Any) -> None:
    settings.SPOTIFY_SCOPES = "playlist-read-private playlist-modify-private"
    link = authorization_request_create(app=oauth_app, actor="admin:olive")
    page = follow_link(link.authorize_url, user_id="ana")
    assert page.status_code == 200 and "playlist-modify-public" in page.content.decode()
    account = SpotifyAccount.objects.get()
    assert account.health == Health.DEGRADED
    assert "playlist-modify-public" in account.health_reason


def test_sixth_user_on_a_development_app_is_refused_before_and_at_the_callback(
    oauth_app: SpotifyApp, spotify_emulator: SpotifyEmulator, make_account: Callable[..., SpotifyAccount]
) -> None:
    oauth_app.mode, oauth_app.user_cap = SpotifyApp.Mode.DEVELOPMENT, 5
    oauth_app.save(update_fields=["mode", "user_cap"])
    spotify_emulator.register_app(oauth_app.client_id, oauth_app.client_secret, "development", [REDIRECT_URI])
    links = [authorization_request_create(app=oauth_app, actor="admin:olive") for _ in range(2)]
    for n in range(1, 5):
        make_account(f"user-{n}")
    # Before anyone goes to Spotify: four accounts + nothing pending still leaves one slot.
    assert follow_link(links[0].authorize_url, user_id="user-5").status_code == 200
    with pytest.raises(AuthorizationRefused, match="its cap"):
        authorization_request_create(app=oauth_app, actor="admin:olive")
    assert AuditEvent.objects.filter(action="authorization.request", outcome="refused").count() == 1
    # At the callback: a link made while there was room, completed by a sixth user.
    page = follow_link(links[1].authorize_url, user_id="user-6")
    assert page.status_code == 403 and "at most 5 users" in page.content.decode()
    assert not SpotifyAccount.objects.filter(spotify_user_id="user-6").exists()
    assert SpotifyAccount.objects.count() == 5
    assert AuthorizationRequest.objects.get(pk=links[1].request.pk).status == Status.FAILED


def test_the_console_cap_is_checked_again_at_the_callback(oauth_app: SpotifyApp) -> None:
    oauth_app.user_cap = 1
    oauth_app.save(update_fields=["user_cap"])
    first, second = (authorization_request_create(app=oauth_app, actor="admin:olive") for _ in range(2))
    assert follow_link(first.authorize_url, user_id="ana").status_code == 200
    page = follow_link(second.authorize_url, user_id="bob")
    assert page.status_code == 403 and "already has 1 authorized users (its cap)" in page.content.decode()
    assert list(SpotifyAccount.objects.values_list("spotify_user_id", flat=True)) == ["ana"]


def test_a_user_spotify_refuses_for_the_app_is_refused_with_a_page(
    oauth_app: SpotifyApp, spotify_emulator: SpotifyEmulator
) -> None:
    # Spotify's own allowlist is full (five users authorized elsewhere) although the console has room.
    spotify_emulator.register_app(oauth_app.client_id, oauth_app.client_secret, "development", [REDIRECT_URI])
    for n in range(5):
        spotify_emulator.create_user(f"other-{n}", client_id=oauth_app.client_id)
    link = authorization_request_create(app=oauth_app, actor="admin:olive")
    page = follow_link(link.authorize_url, user_id="ana")
    assert page.status_code == 403 and "Spotify refused this user" in page.content.decode()
    assert not SpotifyAccount.objects.exists()


def timezone_now() -> Any:
    from django.utils import timezone

    return timezone.now()
