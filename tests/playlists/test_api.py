"""The playlists API: 201/202 with what was done or queued, 400 JSON with field errors for bad input."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from django.contrib.auth.models import User
from rest_framework.test import APIClient

from accounts.models import SpotifyAccount, SpotifyApp
from jobs.models import JobRun
from playlists.models import Playlist, PlaylistHistory
from tests.factories import PlaylistFactory, PlaylistPolicyFactory
from tests.fixtures_clients import api_key_for

pytestmark = pytest.mark.django_db


@pytest.fixture
def api(operator: User) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {api_key_for(operator)}")
    return client


@pytest.fixture
def acct(spotify_app: SpotifyApp) -> SpotifyAccount:
    return SpotifyAccount.objects.create(app=spotify_app, display_name="Api", spotify_user_id="api-user", playlist_capacity=10)


def test_create_returns_201_with_the_playlists_and_queues_their_syncs(
    api: APIClient, acct: SpotifyAccount, django_capture_on_commit_callbacks: Any
) -> None:
    with django_capture_on_commit_callbacks() as callbacks:
        response = api.post("/api/v1/playlists/create", {"account_id": str(acct.pk), "count": 3}, format="json")

    assert response.status_code == 201, response.content
    body = response.json()
    assert body["created"] == 3 and [p["index"] for p in body["playlists"]] == [1, 2, 3]
    assert {p["account"] for p in body["playlists"]} == {str(acct.pk)}
    assert len(callbacks) == 1  # one on-commit hook queues the three syncs
    assert PlaylistHistory.objects.filter(action="create", actor="api:olive").count() == 3


@pytest.mark.parametrize(
    "payload, field",
    [
        ({"account_id": str(uuid.uuid4()), "count": 1}, "account_id"),
        ({"account_id": "not-a-uuid", "count": 1}, "account_id"),
        ({"count": 1}, "account_id"),
        ({"account_id": "ACCOUNT", "count": 0}, "count"),
        ({"account_id": "ACCOUNT", "count": 11}, "count"),
        ({"account_id": "ACCOUNT", "count": "many"}, "count"),
        ({"account_id": "ACCOUNT", "count": 100000}, "count"),
    ],
)
def test_create_bad_input_is_400_json_with_field_errors(api: APIClient, acct: SpotifyAccount, payload: dict, field: str) -> None:
    payload = {k: (str(acct.pk) if v == "ACCOUNT" else v) for k, v in payload.items()}
    response = api.post("/api/v1/playlists/create", payload, format="json")
    assert response.status_code == 400
    assert field in response.json()["errors"]
    assert not Playlist.objects.exists()


@pytest.mark.parametrize("change", [{"health": "quarantined"}, {"health": "reauth_required"}, {"is_active": False}])
def test_create_on_an_account_that_may_not_work_is_400(api: APIClient, acct: SpotifyAccount, change: dict) -> None:
    SpotifyAccount.objects.filter(pk=acct.pk).update(**change)
    response = api.post("/api/v1/playlists/create", {"account_id": str(acct.pk), "count": 1}, format="json")
    assert response.status_code == 400 and "account_id" in response.json()["errors"]


def test_malformed_json_is_400_not_500(api: APIClient) -> None:
    response = api.post("/api/v1/playlists/create", "{not json", content_type="application/json")
    assert response.status_code == 400 and response.json()["detail"]


def test_reshuffle_bulk_modes_queue_one_task_per_playlist(
    api: APIClient, acct: SpotifyAccount, spotify_app: SpotifyApp, django_capture_on_commit_callbacks: Any
) -> None:
    from django.utils import timezone

    other = SpotifyAccount.objects.create(app=spotify_app, display_name="Other", spotify_user_id="other")
    mine = [PlaylistFactory(account=acct) for _ in range(2)]
    theirs = PlaylistFactory(account=other, next_reshuffle_at=timezone.now())
    PlaylistFactory(account=other, status=Playlist.Status.RETIRED)

    with django_capture_on_commit_callbacks():
        by_account = api.post("/api/v1/playlists/reshuffle-bulk", {"mode": "account", "account_id": str(acct.pk)}, format="json")
        everything = api.post("/api/v1/playlists/reshuffle-bulk", {"mode": "all"}, format="json")
        due = api.post("/api/v1/playlists/reshuffle-bulk", {"mode": "due"}, format="json")
        chosen = api.post("/api/v1/playlists/reshuffle-bulk", {"mode": "playlists", "ids": [str(mine[0].pk)]}, format="json")

    assert [r.status_code for r in (by_account, everything, due, chosen)] == [202] * 4
    assert [r.json()["queued"] for r in (by_account, everything, due, chosen)] == [2, 3, 1, 1]
    assert len(set(everything.json()["task_ids"])) == 3
    runs = JobRun.objects.filter(task_name="playlist_reshuffle_one", trigger="api")
    assert runs.count() == 7
    assert {r.kwargs["playlist_id"] for r in runs.filter(task_id__in=due.json()["task_ids"])} == {str(theirs.pk)}


def test_reshuffle_bulk_skips_quarantined_accounts_and_says_so(api: APIClient, acct: SpotifyAccount) -> None:
    playlist = PlaylistFactory(account=acct)
    SpotifyAccount.objects.filter(pk=acct.pk).update(health="quarantined")
    response = api.post("/api/v1/playlists/reshuffle-bulk", {"mode": "all"}, format="json")
    assert response.status_code == 202 and response.json()["queued"] == 0 and response.json()["skipped"] == 1
    assert PlaylistHistory.objects.get(playlist=playlist, action="skip").details["reason"].startswith("account quarantined")
    bad = api.post("/api/v1/playlists/reshuffle-bulk", {"mode": "account", "account_id": str(acct.pk)}, format="json")
    assert bad.status_code == 400 and "account_id" in bad.json()["errors"]


@pytest.mark.parametrize(
    "payload, field",
    [
        ({"mode": "sometimes"}, "mode"),
        ({}, "mode"),
        ({"mode": "account"}, "account_id"),
        ({"mode": "account", "account_id": str(uuid.uuid4())}, "account_id"),
        ({"mode": "playlists"}, "ids"),
        ({"mode": "playlists", "ids": []}, "ids"),
        ({"mode": "playlists", "ids": ["nope"]}, "ids"),
        ({"mode": "playlists", "ids": [str(uuid.uuid4())]}, "ids"),
    ],
)
def test_reshuffle_bulk_bad_input_is_400(api: APIClient, payload: dict, field: str) -> None:
    response = api.post("/api/v1/playlists/reshuffle-bulk", payload, format="json")
    assert response.status_code == 400
    assert field in response.json()["errors"]
    assert not JobRun.objects.exists()


def test_scale_dry_run_returns_the_plan_and_the_real_run_is_queued(api: APIClient, acct: SpotifyAccount) -> None:
    plan = api.post("/api/v1/playlists/scale", {"dry_run": True}, format="json")
    assert plan.status_code == 200 and plan.json()["to_create"] == 10 and plan.json()["dry_run"] is True
    assert not Playlist.objects.exists()

    queued = api.post("/api/v1/playlists/scale", {"dry_run": False}, format="json")
    assert queued.status_code == 202
    assert JobRun.objects.get(task_id=queued.json()["task_ids"][0]).job_name == "scale_playlists_daily"
    assert api.post("/api/v1/playlists/scale", {"dry_run": "perhaps"}, format="json").status_code == 400


def test_reads_list_filter_detail_and_history(api: APIClient, acct: SpotifyAccount, spotify_app: SpotifyApp) -> None:
    other = SpotifyAccount.objects.create(app=spotify_app, display_name="Other", spotify_user_id="other")
    mine = PlaylistFactory(account=acct, policy=PlaylistPolicyFactory())
    PlaylistFactory(account=other, status=Playlist.Status.RETIRED)
    PlaylistHistory.objects.create(playlist=mine, action="create", actor="test")

    listing = api.get("/api/v1/playlists", {"account": str(acct.pk)})
    assert listing.status_code == 200 and listing.json()["count"] == 1
    assert api.get("/api/v1/playlists", {"status": "retired"}).json()["count"] == 1
    assert api.get("/api/v1/playlists", {"sync_state": "pending"}).json()["count"] == 2
    assert api.get("/api/v1/playlists", {"status": "lost"}).status_code == 400
    assert api.get("/api/v1/playlists", {"account": "x"}).status_code == 400

    detail = api.get(f"/api/v1/playlists/{mine.pk}")
    assert detail.status_code == 200 and detail.json()["snapshot"] is None
    assert api.get(f"/api/v1/playlists/{uuid.uuid4()}").status_code == 404

    history = api.get("/api/v1/playlists/history", {"playlist": str(mine.pk)})
    assert history.status_code == 200 and history.json()["results"][0]["action"] == "create"


def test_viewers_read_but_cannot_act_and_anonymous_is_refused(viewer: User, acct: SpotifyAccount) -> None:
    client = APIClient()
    client.force_authenticate(viewer)
    assert client.get("/api/v1/playlists").status_code == 200
    assert client.post("/api/v1/playlists/create", {"account_id": str(acct.pk), "count": 1}, format="json").status_code == 403
    # Session auth comes first in DRF's list, so refusals are 403 JSON.
    for anonymous in (APIClient(), APIClient(HTTP_AUTHORIZATION="Token nope")):
        response = anonymous.get("/api/v1/playlists")
        assert response.status_code == 403 and response.json()["detail"]
