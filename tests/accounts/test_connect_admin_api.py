"""The connect flow's doors: admin buttons and actions, the API, and what they never show."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from accounts.models import AuthorizationRequest, SpotifyAccount, SpotifyApp
from audit.models import AuditEvent
from core.logging import JsonFormatter
from tests.fixtures_oauth import follow_link

pytestmark = pytest.mark.django_db
Health = SpotifyAccount.Health


def _login(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


def _url_from(page: str) -> str:
    found = re.findall(r'href="(http[^"]+/authorize\?[^"]+)"', page)
    assert found, page
    return found[0].replace("&amp;", "&")


def test_operator_connects_from_the_app_page_and_the_link_works(oauth_app: SpotifyApp, operator: User) -> None:
    client = _login(operator)
    change = client.get(reverse("admin:accounts_spotifyapp_change", args=[oauth_app.pk]))
    assert 'id="connect-account"' in change.content.decode()
    page = client.post(reverse("admin:accounts_spotifyapp_connect", args=[oauth_app.pk]))
    assert page.status_code == 200
    assert follow_link(_url_from(page.content.decode()), user_id="ana").status_code == 200
    assert SpotifyAccount.objects.get().health == Health.OK
    assert AuditEvent.objects.get(action="account.connect").actor == "admin:olive"


def test_accounts_list_offers_connect_instead_of_add_choosing_the_app(oauth_app: SpotifyApp, operator: User) -> None:
    client = _login(operator)
    changelist = client.get(reverse("admin:accounts_spotifyaccount_changelist")).content.decode()
    assert "Connect a Spotify account" in changelist
    assert reverse("admin:accounts_spotifyaccount_add") not in changelist
    assert client.get(reverse("admin:accounts_spotifyaccount_add")).status_code == 403
    form = client.get(reverse("admin:accounts_spotifyaccount_connect"))
    assert oauth_app.name in form.content.decode()
    page = client.post(reverse("admin:accounts_spotifyaccount_connect"), {"app": oauth_app.pk})
    assert "/authorize?" in page.content.decode()
    assert AuthorizationRequest.objects.get().app == oauth_app


def test_viewer_sees_no_connect_and_may_not_connect(oauth_app: SpotifyApp, viewer: User) -> None:
    client = _login(viewer)
    assert "Connect a Spotify account" not in client.get(reverse("admin:accounts_spotifyaccount_changelist")).content.decode()
    assert client.post(reverse("admin:accounts_spotifyaccount_connect"), {"app": oauth_app.pk}).status_code == 403
    assert client.post(reverse("admin:accounts_spotifyapp_connect", args=[oauth_app.pk])).status_code == 403
    assert not AuthorizationRequest.objects.exists()


def test_connect_at_the_cap_is_refused_in_the_admin(
    oauth_app: SpotifyApp, operator: User, make_account: Callable[..., SpotifyAccount]
) -> None:
    oauth_app.user_cap = 1
    oauth_app.save(update_fields=["user_cap"])
    make_account("ana")
    page = _login(operator).post(reverse("admin:accounts_spotifyaccount_connect"), {"app": oauth_app.pk}, follow=True)
    assert "its cap" in page.content.decode()
    assert not AuthorizationRequest.objects.exists()


def test_reauthorize_action_makes_one_link_per_due_account(
    oauth_app: SpotifyApp, operator: User, make_account: Callable[..., SpotifyAccount]
) -> None:
    due = make_account("ana", health=Health.REAUTH_REQUIRED)
    soon = make_account("bob", authorized_at=timezone.now() - timedelta(days=175))
    fresh = make_account("cid")
    client = _login(operator)
    selection = {"action": "reauthorize", "_selected_action": [str(a.pk) for a in (due, soon, fresh)]}
    asked = client.post(reverse("admin:accounts_spotifyaccount_changelist"), selection).content.decode()
    # The confirmation is the dry run: who would get a link, who not, and no Spotify call.
    assert "2 accounts: Spotify calls\n0," in asked and "1 skipped: not due for re-authorization" in asked
    assert not AuthorizationRequest.objects.exists()
    page = client.post(reverse("admin:accounts_spotifyaccount_changelist"), {**selection, "post": "yes"})
    body = page.content.decode()
    assert body.count('class="open-authorize-url"') == 2
    assert "not due for re-authorization: Cid" in body
    assert set(AuthorizationRequest.objects.values_list("account__spotify_user_id", flat=True)) == {"ana", "bob"}


def test_pending_requests_list_and_revoke(oauth_app: SpotifyApp, operator: User) -> None:
    client = _login(operator)
    client.post(reverse("admin:accounts_spotifyaccount_connect"), {"app": oauth_app.pk})
    request = AuthorizationRequest.objects.get()
    listing = client.get(reverse("admin:accounts_authorizationrequest_changelist") + "?status=pending").content.decode()
    assert "admin:olive" in listing and "Pending" in listing
    answer = client.post(
        reverse("admin:accounts_authorizationrequest_changelist"),
        {"action": "revoke", "_selected_action": [str(request.pk)]},
        follow=True,
    )
    assert "1 link revoked" in answer.content.decode()
    request.refresh_from_db()
    assert request.status == AuthorizationRequest.Status.FAILED and "revoked by admin:olive" in request.status_reason
    assert AuditEvent.objects.filter(action="authorization.revoke", actor="admin:olive").count() == 1


def test_api_connect_reauthorize_and_list(
    oauth_app: SpotifyApp, operator: User, make_account: Callable[..., SpotifyAccount]
) -> None:
    client = _login(operator)
    created = client.post("/api/v1/accounts/connect", {"app_id": oauth_app.pk}, content_type="application/json")
    assert created.status_code == 201
    assert set(created.json()) == {"authorize_url", "state_expires_at", "request_id"}
    account = make_account("ana", health=Health.REAUTH_REQUIRED)
    again = client.post(f"/api/v1/accounts/{account.pk}/reauthorize")
    assert again.status_code == 201
    listing = client.get("/api/v1/accounts/authorizations?status=pending").json()
    assert {row["kind"] for row in listing["results"]} == {"connect", "reauthorize"}
    assert all(row["status"] == "pending" and row["created_by"] == "api:olive" for row in listing["results"])
    assert follow_link(created.json()["authorize_url"], user_id="bob").status_code == 200
    assert client.get("/api/v1/accounts/authorizations?status=completed").json()["count"] == 1
    row = client.get("/api/v1/accounts/list?search=bob").json()["results"][0]
    assert row["reauthorize_by"] and row["health"] == "ok"


def test_api_bad_input_and_refusals_are_4xx_json(
    oauth_app: SpotifyApp, operator: User, make_account: Callable[..., SpotifyAccount]
) -> None:
    client = _login(operator)
    for body in ({}, {"app_id": 999999}, {"app_id": "x"}):
        answer = client.post("/api/v1/accounts/connect", body, content_type="application/json")
        assert answer.status_code == 400 and "app_id" in answer.json()["errors"]
    assert client.get("/api/v1/accounts/authorizations?status=nope").json()["errors"]["status"]
    fresh = make_account("ana")
    refused = client.post(f"/api/v1/accounts/{fresh.pk}/reauthorize")
    assert refused.status_code == 409 and "not due" in refused.json()["detail"]
    assert client.post("/api/v1/accounts/00000000-0000-0000-0000-000000000000/reauthorize").status_code == 404
    oauth_app.user_cap = 1
    oauth_app.save(update_fields=["user_cap"])
    capped = client.post("/api/v1/accounts/connect", {"app_id": oauth_app.pk}, content_type="application/json")
    assert capped.status_code == 409 and "its cap" in capped.json()["detail"]


def test_viewer_gets_403_on_the_api_writes_but_reads_the_list(oauth_app: SpotifyApp, viewer: User) -> None:
    client = _login(viewer)
    assert client.post("/api/v1/accounts/connect", {"app_id": oauth_app.pk}, content_type="application/json").status_code == 403
    assert client.get("/api/v1/accounts/authorizations").status_code == 200
    assert not AuthorizationRequest.objects.exists()


def test_no_token_verifier_or_secret_in_any_page_log_line_or_api_answer(
    oauth_app: SpotifyApp, operator: User, make_account: Callable[..., SpotifyAccount], caplog: Any
) -> None:
    caplog.set_level(logging.DEBUG)
    client = _login(operator)
    seen: list[str] = []
    page = client.post(reverse("admin:accounts_spotifyapp_connect", args=[oauth_app.pk]))
    seen.append(page.content.decode())
    callback = follow_link(_url_from(seen[-1]), user_id="ana")
    seen.append(callback.content.decode())
    account = SpotifyAccount.objects.get()
    due = make_account("bob", health=Health.REAUTH_REQUIRED)
    api_link = client.post(f"/api/v1/accounts/{due.pk}/reauthorize")
    seen.append(api_link.content.decode())
    seen.append(follow_link(api_link.json()["authorize_url"], user_id="mallory").content.decode())
    forged = Client().get("/oauth/spotify/callback", {"state": "forged", "code": "c0de-secret-ish"})
    seen.append(forged.content.decode())
    for url in (
        reverse("admin:accounts_spotifyaccount_changelist"),
        reverse("admin:accounts_spotifyaccount_change", args=[account.pk]),
        reverse("admin:accounts_spotifyapp_change", args=[oauth_app.pk]),
        reverse("admin:accounts_authorizationrequest_changelist"),
        reverse("admin:accounts_authorizationrequest_change", args=[AuthorizationRequest.objects.first().pk]),  # type: ignore[union-attr]
        "/api/v1/accounts/list",
        "/api/v1/accounts/authorizations",
        f"/api/v1/accounts/{account.pk}",
    ):
        answer = client.get(url)
        assert answer.status_code == 200, url
        seen.append(answer.content.decode())
    formatter = JsonFormatter()
    seen.extend(formatter.format(record) for record in caplog.records)
    seen.extend(str(event.details) for event in AuditEvent.objects.all())
    secrets = {
        "access token": account.access_token,
        "refresh token": account.refresh_token,
        "client secret": oauth_app.client_secret,
        **{f"verifier {r.pk}": r.code_verifier for r in AuthorizationRequest.objects.all()},
        "code": "c0de-secret-ish",
    }
    for name, secret in secrets.items():
        assert secret and len(secret) >= 8, name
        leaks = [text[:200] for text in seen if secret in text]
        assert not leaks, f"{name} leaked: {leaks}"
