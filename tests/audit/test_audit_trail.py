"""One audit row per operator action, from every door that offers it (docs/runbooks/who-did-what.md).

Each row of ACTIONS does one thing once through one door and expects exactly one AuditEvent:
who (actor and door), what (action), on what (the target as a person reads it) and how it
ended. The admin's change forms reach the trail through Django's LogEntry; an admin action that
also writes a LogEntry still leaves one row.
"""

from __future__ import annotations

import getpass
from collections.abc import Callable
from dataclasses import dataclass
from io import StringIO
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.core.management import call_command
from django.test import Client
from django_celery_beat.models import PeriodicTask

from accounts.models import SpotifyAccount
from audit.models import AuditEvent
from core.models import ApiToken
from ingest.models import DeadLetter, Track
from ingest.services import dead_letter_record
from jobs.models import JobRun
from jobs.schedule import schedule_sync
from jobs.services import job_enqueue
from playlists import services as playlist_services
from playlists.models import Playlist
from tests.factories import PlaylistFactory, make_catalog
from tests.fixtures_clients import client_for, token_client

pytestmark = pytest.mark.django_db

ALBUM = "4aawyAB9vmqN3uQ7FjRGTy"


@dataclass
class World:
    operator: User
    admin: Client
    api: Client
    account: SpotifyAccount
    playlist: Playlist
    run: JobRun
    letter: DeadLetter
    track: Track


@pytest.fixture
def world(operator: User, make_account: Callable[..., SpotifyAccount]) -> World:
    schedule_sync()
    make_catalog(artists=10, tracks_per_artist=2)
    account = make_account("audit-acct")
    playlist = PlaylistFactory(account=account, policy=playlist_services.policy_get_default(), name="Morning Mix")
    run = job_enqueue("metrics_snapshot", trigger=JobRun.Trigger.SCHEDULE)
    letter = dead_letter_record(
        source_service="spotify.albums",
        operation="ingest_album",
        error_type="server_error",
        error_message="boom",
        payload={"source_id": 1},
    )
    world = World(operator, client_for(operator), token_client(operator), account, playlist, run, letter, Track.objects.first())
    AuditEvent.objects.all().delete()
    return world


def _task(name: str) -> PeriodicTask:
    return PeriodicTask.objects.get(name=name)


def _admin_action(w: World, changelist: str, action: str, ids: list[Any], **extra: str) -> Any:
    return w.admin.post(changelist, {"action": action, "_selected_action": [str(i) for i in ids], **extra})


def _json(client: Client, method: str, url: str, body: dict[str, Any] | None = None) -> Any:
    return getattr(client, method)(url, body or {}, content_type="application/json")


ACCOUNTS = "/admin/accounts/spotifyaccount/"
PERIODIC = "/admin/django_celery_beat/periodictask/"
RUNS = "/admin/jobs/jobrun/"
LETTERS = "/admin/ingest/deadletter/"
PLAYLISTS = "/admin/playlists/playlist/"


@dataclass(frozen=True)
class Row:
    action: str
    door: str
    do: Callable[[World], Any]
    target: Callable[[World], str]
    outcome: str = "ok"


ACTIONS = [
    # accounts
    Row(
        "account.refresh_token",
        "admin",
        lambda w: _admin_action(w, ACCOUNTS, "refresh_tokens", [w.account.pk]),
        lambda w: w.account.display_name,
    ),
    Row(
        "account.refresh_token",
        "api",
        lambda w: w.api.post(f"/api/v1/accounts/refresh/{w.account.pk}"),
        lambda w: w.account.display_name,
    ),
    Row(
        "account.deactivate",
        "admin",
        lambda w: _admin_action(w, ACCOUNTS, "deactivate", [w.account.pk]),
        lambda w: w.account.display_name,
    ),
    Row(
        "account.deactivate", "api", lambda w: w.api.delete(f"/api/v1/accounts/{w.account.pk}"), lambda w: w.account.display_name
    ),
    Row(
        "account.reactivate",
        "admin",
        lambda w: _admin_action(w, ACCOUNTS, "reactivate", [w.account.pk]),
        lambda w: w.account.display_name,
    ),
    Row(
        "account.release_quarantine",
        "admin",
        lambda w: _admin_action(w, ACCOUNTS, "release_quarantine", [w.account.pk]),
        lambda w: w.account.display_name,
        "failed",
    ),
    Row(
        "rate_limit.clear_block",
        "admin",
        lambda w: _admin_action(w, ACCOUNTS, "clear_rate_limit_block", [w.account.pk]),
        lambda w: w.account.display_name,
    ),
    Row(
        "rate_limit.clear_block",
        "api",
        lambda w: _json(w.api, "post", "/api/v1/ratelimits/clear", {"kind": "account", "id": str(w.account.pk)}),
        lambda w: w.account.display_name,
    ),
    Row(
        "rate_limit.change",
        "api",
        lambda w: _json(
            w.api,
            "post",
            "/api/v1/rate-limit-settings",
            {"kind": "account", "ident": str(w.account.pk), "name": w.account.display_name, "rate_per_second": 1, "burst": 3},
        ),
        lambda w: w.account.display_name,
    ),
    # schedule (django-celery-beat's own actions included)
    Row(
        "periodic_task.enable",
        "admin",
        lambda w: _admin_action(w, PERIODIC, "enable_tasks", [_task("refresh_tokens").pk]),
        lambda w: "refresh_tokens",
    ),
    Row(
        "periodic_task.disable",
        "admin",
        lambda w: _admin_action(w, PERIODIC, "disable_tasks", [_task("refresh_tokens").pk]),
        lambda w: "refresh_tokens",
    ),
    Row(
        "periodic_task.disable",
        "admin",
        lambda w: _admin_action(w, PERIODIC, "toggle_tasks", [_task("refresh_tokens").pk]),
        lambda w: "refresh_tokens",
    ),
    Row(
        "periodic_task.run_now",
        "admin",
        lambda w: _admin_action(w, PERIODIC, "run_now", [_task("refresh_tokens").pk]),
        lambda w: "refresh_tokens",
    ),
    Row(
        "periodic_task.disable",
        "api",
        lambda w: _json(w.api, "post", "/api/v1/jobs/update", {"name": "refresh_tokens", "enabled": False}),
        lambda w: "refresh_tokens",
    ),
    Row(
        "periodic_task.run_now",
        "api",
        lambda w: _json(w.api, "post", "/api/v1/jobs/update", {"name": "refresh_tokens", "run_now": True}),
        lambda w: "refresh_tokens",
    ),
    Row(
        "periodic_task.run_now",
        "admin",
        lambda w: w.admin.post("/admin/ingest/albumsource/run-now/"),
        lambda w: "ingest_albums_from_sources",
    ),
    # job runs and queues
    Row(
        "job_run.retry",
        "admin",
        lambda w: _admin_action(w, RUNS, "retry", [w.run.pk]),
        lambda w: f"metrics_snapshot ({w.run.task_id})",
    ),
    Row(
        "job_run.revoke",
        "admin",
        lambda w: _admin_action(w, RUNS, "revoke", [w.run.pk]),
        lambda w: f"metrics_snapshot ({w.run.task_id})",
    ),
    Row(
        "job_run.terminate",
        "api",
        lambda w: _json(w.api, "post", f"/api/v1/job-runs/{w.run.pk}/revoke", {"terminate": True}),
        lambda w: f"metrics_snapshot ({w.run.task_id})",
    ),
    Row(
        "queue.pause",
        "admin",
        lambda w: w.admin.post("/admin/metrics/metricsnapshot/queues/", {"queue": "default", "operation": "pause"}),
        lambda w: "default",
    ),
    Row("queue.pause", "api", lambda w: w.api.post("/api/v1/queues/default/pause"), lambda w: "default"),
    Row("queue.resume", "api", lambda w: w.api.post("/api/v1/queues/default/resume"), lambda w: "default"),
    # Spotify connectors and breakers
    Row(
        "circuit_breaker.reset",
        "api",
        lambda w: w.api.post("/api/v1/circuit-breakers/spotify.albums/reset"),
        lambda w: "spotify.albums",
    ),
    Row(
        "circuit_breaker.reset_all",
        "api",
        lambda w: w.api.post("/api/v1/circuit-breakers/reset-all"),
        lambda w: "every Spotify circuit breaker",
    ),
    Row(
        "circuit_breaker.reset_all",
        "admin",
        lambda w: w.admin.post("/admin/ingest/deadletter/reset-breakers/"),
        lambda w: "every Spotify circuit breaker",
    ),
    Row(
        "connector.change",
        "api",
        lambda w: _json(w.api, "patch", "/api/v1/connectors/spotify.albums", {"enabled": False}),
        lambda w: "spotify.albums",
    ),
    Row("connectors.reload", "api", lambda w: w.api.post("/api/v1/connectors/reload"), lambda w: "every connector"),
    # ingest
    Row(
        "album_sources.submit",
        "api",
        lambda w: _json(w.api, "post", "/api/v1/ingest/albums", {"urls": [ALBUM]}),
        lambda w: "1 album links",
    ),
    Row(
        "album_sources.submit",
        "admin",
        lambda w: w.admin.post("/admin/ingest/albumsource/submit/", {"urls": ALBUM}),
        lambda w: "1 album links",
    ),
    Row(
        "album_sources.submit",
        "cli",
        lambda w: call_command("ingest_urls", _album_file(), stdout=StringIO(), stderr=StringIO()),
        lambda w: "1 album links",
    ),
    Row(
        "dead_letters.replay",
        "admin",
        lambda w: _admin_action(w, LETTERS, "replay", [w.letter.pk], post="yes"),
        lambda w: "0 replayed, 1 failed",
        "failed",
    ),
    Row(
        "dead_letters.replay",
        "api",
        lambda w: _json(w.api, "post", "/api/v1/dlq/replay/batch", {"batch_size": 10}),
        lambda w: "0 replayed, 1 failed (oldest pending)",
        "failed",
    ),
    Row(
        "dead_letters.purge",
        "admin",
        lambda w: _admin_action(w, LETTERS, "purge", [w.letter.pk], confirmed="yes"),
        lambda w: "1 of 1 selected",
    ),
    Row(
        "dead_letters.purge",
        "api",
        lambda w: w.api.delete("/api/v1/dlq/messages/before/2999-01-01"),
        lambda w: "1 pending, last seen before 2999-01-01",
    ),
    Row(
        "tracks.reenrich",
        "api",
        lambda w: _json(w.api, "post", "/api/v1/tracks/re-enrich", {"track_ids": [w.track.pk]}),
        lambda w: "1 tracks",
    ),
    Row(
        "tracks.reenrich",
        "admin",
        lambda w: _admin_action(w, "/admin/ingest/track/", "reenrich", [w.track.pk]),
        lambda w: "1 tracks",
    ),
    # playlists
    Row(
        "playlist.reshuffle",
        "admin",
        lambda w: _admin_action(w, PLAYLISTS, "reshuffle_now", [w.playlist.pk], post="yes"),
        lambda w: "Morning Mix",
    ),
    Row(
        "playlist.reshuffle",
        "api",
        lambda w: _json(w.api, "post", "/api/v1/playlists/reshuffle-bulk", {"mode": "playlists", "ids": [str(w.playlist.pk)]}),
        lambda w: "Morning Mix",
    ),
    Row("playlist.sync", "admin", lambda w: _admin_action(w, PLAYLISTS, "sync_now", [w.playlist.pk]), lambda w: "Morning Mix"),
    Row(
        "playlist.retire",
        "admin",
        lambda w: _admin_action(w, PLAYLISTS, "retire", [w.playlist.pk], post="yes", confirmed="yes"),
        lambda w: "Morning Mix",
    ),
    Row(
        "playlists.create",
        "api",
        lambda w: _json(w.api, "post", "/api/v1/playlists/create", {"account_id": str(w.account.pk), "count": 1}),
        lambda w: w.account.display_name,
    ),
    Row(
        "playlists.scale",
        "api",
        lambda w: _json(w.api, "post", "/api/v1/playlists/scale", {"dry_run": False}),
        lambda w: "scale_playlists_daily",
    ),
    Row(
        "playlists.scale", "admin", lambda w: w.admin.post("/admin/playlists/playlist/scale/"), lambda w: "scale_playlists_daily"
    ),
    # API tokens: the command (the admin's revoke is superusers' only: tests/core/test_api_tokens.py)
    Row(
        "api_token.create",
        "cli",
        lambda w: call_command("create_api_token", "olive", stdout=StringIO(), stderr=StringIO()),
        lambda w: str(ApiToken.objects.get(user=w.operator, name="cli")),
    ),
    Row(
        "api_token.revoke",
        "cli",
        lambda w: (
            call_command("create_api_token", "olive", stdout=StringIO(), stderr=StringIO()),
            call_command("create_api_token", "olive", "--revoke", "--name", "cli", stdout=StringIO(), stderr=StringIO()),
        ),
        lambda w: str(ApiToken.objects.get(user=w.operator, name="cli")),
    ),
]


def _album_file() -> str:
    import tempfile

    with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False) as handle:
        handle.write(f"{ALBUM}\n")
    return handle.name


@pytest.mark.parametrize("row", ACTIONS, ids=[f"{row.action}-{row.door}" for row in ACTIONS])
def test_each_operator_action_leaves_one_audit_row(row: Row, world: World, spotify_emulator: Any) -> None:
    if row.action == "api_token.revoke" or (row.door == "cli" and row.action == "api_token.create"):
        AuditEvent.objects.all().delete()
    response = row.do(world)
    if row.action == "api_token.revoke":
        AuditEvent.objects.exclude(action="api_token.revoke").delete()
    status = getattr(response, "status_code", None)
    assert status is None or status < 400, getattr(response, "content", b"")[:500]

    [event] = AuditEvent.objects.all()
    expected_actor = f"cli:{getpass.getuser()}" if row.door == "cli" else f"{row.door}:olive"
    assert (event.action, event.door, event.actor, event.target_repr, event.outcome) == (
        row.action,
        row.door,
        expected_actor,
        row.target(world),
        row.outcome,
    )
    if row.door in ("admin", "api"):
        assert event.request_id, "the request id ties the row to the request's log lines"


def test_the_audit_list_is_read_only_in_the_admin_even_for_superusers(superuser: User) -> None:
    event = AuditEvent.objects.create(
        actor="api:olive", door="api", action="queue.pause", target_type="queue", target_repr="default"
    )
    client = client_for(superuser)
    assert client.get("/admin/audit/auditevent/?actor=api%3Aolive").status_code == 200
    assert client.get("/admin/audit/auditevent/add/").status_code == 403
    assert client.post(f"/admin/audit/auditevent/{event.pk}/change/", {"actor": "x"}).status_code == 403
    assert client.post(f"/admin/audit/auditevent/{event.pk}/delete/", {"post": "yes"}).status_code == 403
    assert AuditEvent.objects.get(pk=event.pk).actor == "api:olive"


def test_the_audit_api_filters_and_pages(operator: User, viewer: User) -> None:
    for n in range(3):
        AuditEvent.objects.create(
            actor="admin:olive", door="admin", action="queue.pause", target_type="queue", target_repr=f"q{n}"
        )
    AuditEvent.objects.create(
        actor="api:bot", door="api", action="account.deactivate", target_type="spotify account", target_repr="Dana"
    )
    client = token_client(viewer)  # viewers read the trail
    body = client.get("/api/v1/audit", {"actor": "admin:olive", "page_size": 2}).json()
    assert body["count"] == 3 and len(body["results"]) == 2 and body["next"]
    only = client.get("/api/v1/audit", {"action": "account.deactivate", "target_type": "spotify account"}).json()["results"]
    assert [e["target_repr"] for e in only] == ["Dana"]
    assert "door" in client.get("/api/v1/audit", {"door": "telepathy"}).json()["errors"]
    backwards = client.get("/api/v1/audit", {"since": "2026-01-02T00:00:00Z", "until": "2026-01-01T00:00:00Z"})
    assert backwards.status_code == 400 and "until" in backwards.json()["errors"]


def test_an_admin_change_form_reaches_the_trail_through_its_log_entry(superuser: User) -> None:
    """A model admin with no audited service of its own (auth's groups): its LogEntry is the row."""
    response = client_for(superuser).post("/admin/auth/group/add/", {"name": "auditors"})
    assert response.status_code == 302
    [event] = AuditEvent.objects.all()
    assert (event.action, event.actor, event.door, event.target_repr) == (
        "group.create",
        f"admin:{superuser.username}",
        "admin",
        "auditors",
    )
