"""Operator control on real workers: revoke a queued run, terminate a running one (its lock and
claims given back), pause a queue that a worker started later leaves alone, and a rate change
a running worker applies without a restart (docs/runbooks/stop-runaway-task.md, pause-resume-queue.md)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.contrib.auth.models import User

from audit.models import AuditEvent
from core.redis import get_redis, key
from devstack.emulator import SpotifyEmulator
from ingest.models import AlbumSource
from jobs.control import queue_resume, queues_paused
from jobs.models import JobRun
from jobs.services import job_enqueue
from playlists import services as playlist_services
from playlists.models import Playlist
from playlists.services.common import playlist_subject
from spotify.ratelimit import bucket_limits
from tests.factories import PlaylistFactory, make_catalog
from tests.fixtures_clients import token_client

pytestmark = pytest.mark.slow


def _revoke(user: User, run: JobRun, *, terminate: bool) -> Any:
    return token_client(user).post(f"/api/v1/job-runs/{run.pk}/revoke", {"terminate": terminate}, content_type="application/json")


def test_a_revoked_queued_run_is_never_started_and_a_finished_one_answers_409(
    start_celery_worker: Callable[..., Any], operator: User
) -> None:
    run = job_enqueue("metrics_snapshot", trigger=JobRun.Trigger.API, triggered_by="api:test")

    response = _revoke(operator, run, terminate=False)

    assert response.status_code == 200 and response.json()["status"] == "revoked"
    event = AuditEvent.objects.get(action="job_run.revoke")
    assert (event.actor, event.door, event.target_repr, event.outcome) == (
        "api:olive",
        "api",
        f"metrics_snapshot ({run.task_id})",
        "ok",
    )
    # A worker that starts after the revoke (it never heard the broadcast) still drops it.
    worker = start_celery_worker()
    after = job_enqueue("metrics_snapshot", trigger=JobRun.Trigger.API, triggered_by="api:test")
    worker.wait_until(lambda: JobRun.objects.filter(pk=after.pk, status="success").exists(), timeout=60)
    assert JobRun.objects.get(pk=run.pk).started_at is None
    assert JobRun.objects.get(pk=run.pk).status == "revoked"

    again = _revoke(operator, JobRun.objects.get(pk=after.pk), terminate=True)
    assert again.status_code == 409
    assert AuditEvent.objects.filter(action="job_run.terminate", outcome="refused").count() == 1


def test_terminating_a_running_sync_frees_its_lock_and_the_next_run_succeeds(
    spotify_emulator: SpotifyEmulator, start_celery_worker: Callable[..., Any], make_account: Any, operator: User
) -> None:
    make_catalog(artists=60, tracks_per_artist=3)
    account = make_account("term-sync")
    playlist = PlaylistFactory(account=account, policy=playlist_services.policy_get_default())
    worker = start_celery_worker(pool="prefork", concurrency=1)
    spotify_emulator.fault("*", status=None, latency=8)  # every Spotify call hangs a while
    run = job_enqueue(
        "playlist_sync_one",
        trigger=JobRun.Trigger.API,
        triggered_by="api:test",
        kwargs={"playlist_id": str(playlist.pk), "actor": "api:test"},
        subject=playlist_subject(playlist),
    )
    lock_key = key("lock", f"playlist-sync:{playlist.pk}")
    worker.wait_until(lambda: get_redis().get(lock_key) == run.task_id, timeout=60)

    assert _revoke(operator, run, terminate=True).status_code == 200

    worker.wait_until(lambda: get_redis().get(lock_key) is None, timeout=30)
    assert JobRun.objects.get(pk=run.pk).status == "revoked"
    spotify_emulator.clear_faults()
    following = job_enqueue(
        "playlist_sync_one",
        trigger=JobRun.Trigger.API,
        triggered_by="api:test",
        kwargs={"playlist_id": str(playlist.pk), "actor": "api:test"},
        subject=playlist_subject(playlist),
    )
    worker.wait_until(lambda: JobRun.objects.filter(pk=following.pk, status="success").exists(), timeout=60)
    assert Playlist.objects.get(pk=playlist.pk).sync_state == "synced"
    assert AuditEvent.objects.filter(action="job_run.terminate", outcome="ok", actor="api:olive").count() == 1


def test_terminating_a_running_verify_frees_the_lock_of_the_playlist_it_was_on(
    spotify_emulator: SpotifyEmulator, start_celery_worker: Callable[..., Any], make_account: Any, operator: User
) -> None:
    """Found by the chaos soak: a terminated verify_playlists left the playlist it was repairing
    (its owner had deleted it) locked for the lock's whole TTL, every reshuffle of it retrying."""
    make_catalog(artists=60, tracks_per_artist=3)
    playlist = PlaylistFactory(account=make_account("term-verify"), policy=playlist_services.policy_get_default())
    playlist_services.playlist_sync(playlist=playlist, actor="test")
    worker = start_celery_worker(pool="prefork", concurrency=1)
    spotify_emulator.fault("playlist_get", status=None, latency=8)  # the verify's read of the playlist hangs
    run = job_enqueue("verify_playlists", trigger=JobRun.Trigger.API, triggered_by="api:test", kwargs={"actor": "api:test"})
    lock_key = key("lock", f"playlist-sync:{playlist.pk}")
    worker.wait_until(lambda: get_redis().get(lock_key) == run.task_id, timeout=60)

    assert _revoke(operator, run, terminate=True).status_code == 200

    worker.wait_until(lambda: get_redis().get(lock_key) is None, timeout=30)
    assert JobRun.objects.get(pk=run.pk).status == "revoked"


def test_a_killed_runs_redelivery_dropped_as_revoked_frees_the_lock_it_left(
    spotify_emulator: SpotifyEmulator, start_celery_worker: Callable[..., Any], make_account: Any, operator: User
) -> None:
    """Found by the chaos soak: a sync killed mid-task (SIGKILL: no cleanup ran) and revoked with
    terminate before its message came back; the worker dropped the redelivery as revoked and nothing
    freed the lock the killed run held, so the playlist's syncs and reshuffles retried until its TTL."""
    make_catalog(artists=60, tracks_per_artist=3)
    playlist = PlaylistFactory(account=make_account("killed-sync"), policy=playlist_services.policy_get_default())
    run = job_enqueue(
        "playlist_sync_one", trigger=JobRun.Trigger.API, kwargs={"playlist_id": str(playlist.pk), "actor": "api:test"}
    )
    # What the killed run left behind: the playlist's lock, owned by its task id, never released.
    from playlists.services.common import playlist_lock

    left_held = playlist_lock(playlist, owner=run.task_id)
    left_held.__enter__()  # never exited: the process died holding it
    lock_key = key("lock", f"playlist-sync:{playlist.pk}")
    assert get_redis().get(lock_key) == run.task_id
    assert _revoke(operator, run, terminate=True).status_code == 200

    worker = start_celery_worker(pool="prefork", concurrency=1)
    worker.wait_until(lambda: get_redis().get(lock_key) is None, timeout=60)
    assert JobRun.objects.get(pk=run.pk).status == "revoked"
    # The playlist is free for the next sync.
    following = job_enqueue(
        "playlist_sync_one", trigger=JobRun.Trigger.API, kwargs={"playlist_id": str(playlist.pk), "actor": "api:test"}
    )
    worker.wait_until(lambda: JobRun.objects.filter(pk=following.pk, status="success").exists(), timeout=60)


def test_terminating_a_running_ingest_returns_its_claims(
    spotify_emulator: SpotifyEmulator,
    start_celery_worker: Callable[..., Any],
    queue_albums: Callable[[list[str]], list[str]],
    operator: User,
) -> None:
    queue_albums(spotify_emulator.catalog.album_ids()[:5])
    worker = start_celery_worker(pool="prefork", concurrency=1)
    spotify_emulator.fault("*", status=None, latency=8)
    run = job_enqueue("ingest_albums_from_sources", trigger=JobRun.Trigger.API, triggered_by="api:test")
    worker.wait_until(lambda: AlbumSource.objects.filter(status="processing").count() == 5, timeout=60)
    # The run names what it claimed as it claims it: found by album source while it runs.
    claimed = worker.wait_until(lambda: JobRun.objects.get(pk=run.pk).subject.get("album_sources"), timeout=30)
    assert sorted(claimed) == sorted(AlbumSource.objects.values_list("pk", flat=True))

    assert _revoke(operator, run, terminate=True).status_code == 200

    worker.wait_until(lambda: AlbumSource.objects.filter(status="queued").count() == 5, timeout=30)
    assert JobRun.objects.get(pk=run.pk).status == "revoked"


def test_a_paused_queue_is_not_consumed_by_a_worker_started_later_until_resumed(
    start_celery_worker: Callable[..., Any], operator: User
) -> None:
    client = token_client(operator)
    assert client.post("/api/v1/queues/nope/pause").status_code == 404
    assert client.post("/api/v1/queues/default/pause").json()["paused"] is True
    assert queues_paused() == {"default"}
    run = job_enqueue("metrics_snapshot", trigger=JobRun.Trigger.API, triggered_by="api:test")

    worker = start_celery_worker()
    report = client.get("/api/ops/queues").json()
    default = next(q for q in report["queues"] if q["name"] == "default")
    assert default["paused"] is True and "queue_paused:default" in report["warnings"]
    # Started after the pause: it is up (answers pings) but takes nothing from the paused queue.
    assert worker.ping() and JobRun.objects.get(pk=run.pk).status == "queued"
    assert default["size"] == 1

    resumed = client.post("/api/v1/queues/default/resume").json()
    assert resumed["paused"] is False and worker.hostname in resumed["workers"]
    worker.wait_until(lambda: JobRun.objects.filter(pk=run.pk, status="success").exists(), timeout=60)
    assert [e.action for e in AuditEvent.objects.order_by("at", "id")] == ["queue.pause", "queue.resume"]


def test_a_rate_change_is_applied_by_a_running_worker_without_restart(
    start_celery_worker: Callable[..., Any], operator: User
) -> None:
    worker = start_celery_worker(include=["tests.jobs.worker_tasks"])

    def limits_in_worker() -> list[float]:
        run = job_enqueue("tests.bucket_limits_of", trigger=JobRun.Trigger.API, kwargs={"kind": "app", "ident": "app-1"})
        done = worker.wait_until(lambda: JobRun.objects.filter(pk=run.pk, status="success").first(), timeout=60)
        return list(done.summary["result"])

    assert limits_in_worker() == list(bucket_limits("app", "app-1"))
    response = token_client(operator).post(
        "/api/v1/rate-limit-settings",
        {"kind": "app", "ident": "app-1", "name": "fleet app 1", "rate_per_second": 2.5, "burst": 7},
        content_type="application/json",
    )
    assert response.status_code == 200, response.content

    assert limits_in_worker() == [7.0, 2.5]
    event = AuditEvent.objects.get(action="rate_limit.change")
    assert (event.actor, event.target_repr, event.details["after"]) == (
        "api:olive",
        "fleet app 1",
        {"rate_per_second": 2.5, "burst": 7},
    )


def test_resume_of_a_queue_nobody_consumed_gives_it_to_no_worker(db: None) -> None:
    assert queue_resume(name="default", actor="cli:test").workers == []
