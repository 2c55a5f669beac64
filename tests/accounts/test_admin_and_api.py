from __future__ import annotations

import uuid

from django.contrib.admin.models import LogEntry
from django.contrib.auth.models import User
from django.test import Client
from django.urls import reverse

from accounts import services
from accounts.models import SpotifyAccount
from jobs.models import JobRun

CHANGELIST = "admin:accounts_spotifyaccount_changelist"


def _act(client: Client, action: str, accounts: list[SpotifyAccount], **extra: str):  # type: ignore[no-untyped-def]
    return client.post(
        reverse(CHANGELIST), {"action": action, "_selected_action": [str(a.pk) for a in accounts], **extra}, follow=True
    )


def _messages(response) -> list[str]:  # type: ignore[no-untyped-def]
    return [str(m) for m in response.context["messages"]]


def test_refresh_action_reports_each_row_and_is_audited(make_account, spotify_emulator, superuser: User) -> None:  # type: ignore[no-untyped-def]
    good = make_account("good")
    bad = make_account("bad")
    spotify_emulator.revoke(bad.refresh_token)
    client = Client()
    client.force_login(superuser)

    messages = _messages(_act(client, "refresh_tokens", [good, bad]))

    assert any("succeeded for 1" in m and "Good: refreshed" in m for m in messages)
    assert any("failed for 1" in m and "Bad: re-authorization required" in m for m in messages)
    assert LogEntry.objects.filter(object_id=str(bad.pk), change_message__contains="failed").exists()
    assert LogEntry.objects.filter(object_id=str(good.pk), change_message__contains="ok").exists()


def test_deactivate_is_soft_and_reactivate_and_release_quarantine_work(make_account, superuser: User) -> None:  # type: ignore[no-untyped-def]
    account = make_account("dana")
    client = Client()
    client.force_login(superuser)

    _act(client, "deactivate", [account])
    account.refresh_from_db()
    assert account.is_active is False
    assert SpotifyAccount.objects.filter(pk=account.pk).exists()

    _act(client, "reactivate", [account])
    account.refresh_from_db()
    assert account.is_active is True

    services.account_set_health(account=account, health=SpotifyAccount.Health.QUARANTINED, reason="10 failures")
    messages = _messages(_act(client, "release_quarantine", [account]))
    account.refresh_from_db()
    assert account.health == SpotifyAccount.Health.OK
    assert any("released to ok" in m for m in messages)


def test_admin_pages_never_show_tokens(make_account, superuser: User) -> None:  # type: ignore[no-untyped-def]
    account = make_account("erin")
    services.account_refresh_token(account=account)
    account.refresh_from_db()
    client = Client()
    client.force_login(superuser)
    for url in (reverse(CHANGELIST), reverse("admin:accounts_spotifyaccount_change", args=[account.pk])):
        body = client.get(url).content.decode()
        assert account.access_token not in body and account.refresh_token not in body


def test_health_moves_on_evidence(make_account, settings) -> None:  # type: ignore[no-untyped-def]
    settings.ACCOUNT_DEGRADED_AFTER_FAILURES = 2
    settings.ACCOUNT_QUARANTINE_AFTER_FAILURES = 4
    account = make_account("flaky")
    healths = []
    for _ in range(4):
        services.account_record_failure(account=account, error="500 from Spotify")
        healths.append(SpotifyAccount.objects.get(pk=account.pk).health)
    assert healths == ["ok", "degraded", "degraded", "quarantined"]
    # A success does not undo a quarantine: an operator decides.
    services.account_record_success(account=account)
    assert SpotifyAccount.objects.get(pk=account.pk).health == "quarantined"


def test_accounts_list_shows_health_and_expiry_without_tokens(make_account, viewer: User) -> None:  # type: ignore[no-untyped-def]
    account = make_account("gina")
    services.account_refresh_token(account=account)
    client = Client()
    client.force_login(viewer)

    response = client.get("/api/v1/accounts/list?health=ok")

    assert response.status_code == 200
    [row] = response.json()["results"]
    assert row["id"] == str(account.pk) and row["health"] == "ok" and row["token_expires_at"]
    assert "access_token" not in row and "refresh_token" not in row
    assert client.get("/api/v1/accounts/list?health=bogus").json()["errors"]["health"]


def test_emergency_refresh_and_deactivate_through_the_api(make_account, spotify_emulator, operator: User) -> None:  # type: ignore[no-untyped-def]
    account = make_account("hana")
    revoked = make_account("ivan")
    spotify_emulator.revoke(revoked.refresh_token)
    client = Client()
    client.force_login(operator)

    ok = client.post(f"/api/v1/accounts/refresh/{account.pk}")
    failed = client.post(f"/api/v1/accounts/refresh/{revoked.pk}")
    gone = client.delete(f"/api/v1/accounts/{account.pk}")

    assert ok.status_code == 200 and ok.json()["ok"] is True
    assert failed.status_code == 502 and failed.json()["health"] == "reauth_required"
    assert gone.status_code == 204
    assert SpotifyAccount.objects.get(pk=account.pk).is_active is False


def test_accounts_api_bad_ids_and_roles(make_account, viewer: User) -> None:  # type: ignore[no-untyped-def]
    account = make_account("jo")
    anonymous = Client()
    assert anonymous.get("/api/v1/accounts/list").status_code in (401, 403)
    client = Client()
    client.force_login(viewer)
    assert client.delete(f"/api/v1/accounts/{account.pk}").status_code == 403
    assert client.post(f"/api/v1/accounts/refresh/{uuid.uuid4()}").status_code == 403  # viewers cannot act at all
    assert client.get("/api/v1/accounts/not-a-uuid").status_code == 404
    assert SpotifyAccount.objects.get(pk=account.pk).is_active is True


def test_reshuffle_all_playlists_of_an_account_queues_one_task_per_playlist(make_account, superuser: User, django_capture_on_commit_callbacks) -> None:  # type: ignore[no-untyped-def]
    from playlists.models import Playlist, PlaylistPolicy

    account = make_account("kim")
    policy = PlaylistPolicy.objects.create(name="kim-policy")
    for index in (1, 2, 3):
        Playlist.objects.create(account=account, policy=policy, index=index)
    Playlist.objects.create(account=account, policy=policy, index=4, status=Playlist.Status.RETIRED)
    client = Client()
    client.force_login(superuser)

    with django_capture_on_commit_callbacks() as callbacks:
        response = _act(client, "reshuffle_account_playlists_action", [account], post="yes")

    assert response.status_code == 200
    assert "3 playlists queued for reshuffle." in _messages(response)
    queued = JobRun.objects.filter(task_name="playlist_reshuffle_one", status="queued", trigger="admin")
    assert sorted(run.kwargs["playlist_id"] for run in queued) == sorted(
        str(p.pk) for p in Playlist.objects.filter(account=account, status="active")
    )
    assert callbacks  # published only after the admin's transaction commits
