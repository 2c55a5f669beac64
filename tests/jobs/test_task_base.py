"""Every task's base (jobs.task_base): a database or Redis gone for a moment is retried, never the
task's failure. Found by the chaos soak: during a 7-second PostgreSQL restart a worker took a wave of
queued reshuffles, each failed on its first query and was acknowledged; the work and its JobRun
(left `queued`) were lost."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from typing import Any

import psycopg
import pytest
from django.db import OperationalError, connection
from redis.exceptions import ConnectionError as RedisConnectionError

from accounts.models import SpotifyAccount, SpotifyApp
from jobs.models import JobRun
from jobs.services import job_enqueue_many
from jobs.task_base import STORE_ERRORS, JobTask
from opsconsole.celery import app
from playlists.models import Playlist, PlaylistSnapshot
from tests.factories import PlaylistFactory, make_catalog


def test_every_task_of_the_app_retries_a_lost_database_or_redis() -> None:
    app.loader.import_default_modules()
    ours = [task for name, task in app.tasks.items() if not name.startswith("celery.")]
    assert ours
    for task in ours:
        assert isinstance(task, JobTask), task.name
        assert set(STORE_ERRORS) <= set(task.autoretry_for), task.name


@pytest.mark.parametrize("error", [OperationalError("the connection is closed"), RedisConnectionError("Connection refused")])
def test_a_task_whose_store_is_gone_comes_back_and_does_its_work(db: None, error: Exception) -> None:
    calls: list[int] = []

    @app.task(name=f"tests.flaky_store_{type(error).__name__}", bind=True)
    def flaky(self: Any) -> str:
        calls.append(self.request.retries)
        if len(calls) == 1:
            raise error
        return "done"

    assert flaky.apply().get() == "done"
    assert calls == [0, 1]


def _maintenance_connection() -> psycopg.Connection:
    """A connection of its own to the server's `postgres` database, outside the test database."""
    params = connection.settings_dict
    return psycopg.connect(
        dbname="postgres",
        host=params["HOST"] or None,
        port=params["PORT"] or None,
        user=params["USER"] or None,
        password=params["PASSWORD"] or None,
        autocommit=True,
    )


def _block_connections(allowed: bool) -> None:
    """New connections to the test database refused (or allowed again), as while PostgreSQL restarts;
    every open one but this process's own ended."""
    # This process's own connection is opened first: once the database refuses new ones, a test
    # without one could neither end the others nor let connections in again.
    connection.ensure_connection()
    with _maintenance_connection() as admin:
        admin.execute(f'ALTER DATABASE "{connection.settings_dict["NAME"]}" ALLOW_CONNECTIONS {str(allowed).lower()}')
    if not allowed:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )


@pytest.mark.slow
def test_tasks_delivered_while_the_database_is_down_wait_for_it_and_none_is_lost(
    spotify_app: SpotifyApp, start_celery_worker: Callable[..., Any]
) -> None:
    make_catalog(artists=30, tracks_per_artist=3)
    account = SpotifyAccount.objects.create(app=spotify_app, display_name="Drill", spotify_user_id="drill-user")
    playlists = PlaylistFactory.create_batch(6, account=account)
    worker = start_celery_worker(pool="prefork", concurrency=2)
    _block_connections(False)
    try:
        runs = job_enqueue_many(
            "build_playlist_snapshot",
            trigger=JobRun.Trigger.API,
            triggered_by="drill",
            kwargs_list=[{"playlist_id": str(p.pk), "actor": "drill"} for p in playlists],
        )
        # Delivered while nothing can reach the database, which stays away a few seconds (a restart).
        worker.wait_until(lambda: len(re.findall(r"build_playlist_snapshot\[\S+\] received", worker.log())) >= 2, timeout=30)
        time.sleep(6)
        received_while_away = len(set(re.findall(r"build_playlist_snapshot\[(\S+)\] received", worker.log())))
    finally:
        _block_connections(True)
    assert received_while_away >= 2
    ids = [run.pk for run in runs]
    # Each one waited (its JobRun write, jobs.signals) or came back (its first query, the base's retry).
    worker.wait_until(lambda: JobRun.objects.filter(pk__in=ids, status="success").count() == len(ids), timeout=90)
    assert " raised unexpected" not in worker.log()
    assert PlaylistSnapshot.objects.filter(playlist__in=playlists).count() == len(playlists)
    assert Playlist.objects.filter(pk__in=[p.pk for p in playlists], current_snapshot__isnull=False).count() == len(playlists)


def test_every_publish_waits_out_a_broker_restart_before_it_gives_up() -> None:
    """Beat's schedule, a queued job and a task's retry are all publishes: Celery's default gave up
    after about a second, and it drops a task whose retry it cannot publish (`reject requeue=False`,
    seen by the soak during a Redis restart)."""
    policy = app.conf.task_publish_retry_policy
    assert app.conf.task_publish_retry is True
    waited = sum(
        min(policy["interval_start"] + n * policy["interval_step"], policy["interval_max"]) for n in range(policy["max_retries"])
    )
    assert waited >= 20, policy


def _end_backend(pid: int) -> None:
    """`pg_terminate_backend` of one connection, as an operator or a failover does."""
    with _maintenance_connection() as admin:
        admin.execute("SELECT pg_terminate_backend(%s)", [pid])


def test_a_run_whose_connection_is_ended_after_its_work_is_still_recorded_as_done(transactional_db: None) -> None:
    """Found by the chaos soak: a reshuffle did its work, then `pg_terminate_backend` ended the
    worker's connection before its JobRun was written `success`; Celery logged the signal handler's
    error and acknowledged the task, and the run stayed `running` for good."""

    @app.task(name="tests.connection_ended_after_work")
    def work() -> str:
        connection.ensure_connection()
        _end_backend(connection.connection.info.backend_pid)
        return "done"

    result = work.apply()
    assert result.get() == "done"
    run = JobRun.objects.get(task_id=result.id)
    assert (run.status, run.summary) == ("success", {"result": "done"})
    assert run.finished_at is not None


@pytest.mark.slow
def test_a_run_whose_process_is_lost_after_it_stored_its_success_is_recorded_done(
    start_celery_worker: Callable[..., Any],
) -> None:
    """Found by the chaos soak: a pool process SIGKILLed after its task's success was stored and
    before task_postrun; Celery acknowledged the message as done ("succeeded before the worker
    was lost") with no signal, and the run stayed `running` for good."""
    worker = start_celery_worker(pool="prefork", concurrency=1, include=["tests.jobs.worker_tasks"])
    result = app.send_task("tests.succeed_then_lost")
    worker.wait_until(lambda: "succeeded before the worker was lost" in worker.log(), timeout=60)
    worker.wait_until(lambda: JobRun.objects.filter(task_id=result.id, status="success").exists(), timeout=30)
    assert JobRun.objects.get(task_id=result.id).summary == {"done": 1}
