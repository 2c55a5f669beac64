from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.urls import reverse

from accounts import services
from spotify.errors import SpotifyRateLimited


def _blocked_apps(client: Client) -> list[dict]:
    return client.get("/api/v1/ratelimits?blocked=true").json()["apps"]


def test_a_long_retry_after_blocks_the_app_and_the_operator_sees_and_clears_it(make_account, spotify_emulator, spotify_app, operator: User, superuser: User) -> None:  # type: ignore[no-untyped-def]
    account = make_account("rita")
    spotify_emulator.fault("me", status=429, retry_after=600, times=1)
    with pytest.raises(SpotifyRateLimited):
        services.spotify_client_for_account(account).current_user()

    api = Client()
    api.force_login(operator)
    [app_row] = _blocked_apps(api)
    assert app_row["id"] == str(spotify_app.pk) and app_row["blocked"] and app_row["last_429_at"]
    account_rows = {row["id"]: row for row in api.get("/api/v1/ratelimits").json()["accounts"]}
    assert account_rows[str(account.pk)]["tokens"] < account_rows[str(account.pk)]["capacity"]

    admin = Client()
    admin.force_login(superuser)
    page = admin.get(reverse("admin:accounts_spotifyapp_change", args=[spotify_app.pk])).content.decode()
    assert "blocked until: 20" in page

    cleared = api.post("/api/v1/ratelimits/clear", {"kind": "app", "id": str(spotify_app.pk)}, content_type="application/json")
    assert cleared.status_code == 200
    assert _blocked_apps(api) == []
    # Work goes on at once, no 10-minute wait.
    assert services.spotify_client_for_account(account).current_user()["id"] == "rita"


def test_clearing_a_block_from_the_admin_is_an_action(make_account, spotify_emulator, spotify_app, superuser: User) -> None:  # type: ignore[no-untyped-def]
    account = make_account("sam")
    spotify_emulator.fault("me", status=429, retry_after=600, times=1)
    with pytest.raises(SpotifyRateLimited):
        services.spotify_client_for_account(account).current_user()
    admin = Client()
    admin.force_login(superuser)
    response = admin.post(
        reverse("admin:accounts_spotifyapp_changelist"),
        {"action": "clear_rate_limit_block", "_selected_action": [spotify_app.pk]},
        follow=True,
    )
    assert "Rate-limit block cleared for 1 app(s)." in [str(m) for m in response.context["messages"]]
    assert services.spotify_client_for_account(account).current_user()["id"] == "sam"


def test_clear_rejects_unknown_ids_and_viewers(db: None, operator: User, viewer: User) -> None:
    api = Client()
    api.force_login(operator)
    unknown = api.post("/api/v1/ratelimits/clear", {"kind": "account", "id": "not-a-uuid"}, content_type="application/json")
    bad_kind = api.post("/api/v1/ratelimits/clear", {"kind": "planet", "id": "1"}, content_type="application/json")
    assert unknown.status_code == 400 and "id" in unknown.json()["errors"]
    assert bad_kind.status_code == 400 and "kind" in bad_kind.json()["errors"]
    viewer_client = Client()
    viewer_client.force_login(viewer)
    assert viewer_client.get("/api/v1/ratelimits").status_code == 200
    assert viewer_client.post("/api/v1/ratelimits/clear", {"kind": "app", "id": "1"}, content_type="application/json").status_code == 403
