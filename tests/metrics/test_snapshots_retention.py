from __future__ import annotations

import logging
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from django_celery_results.models import TaskResult

from accounts.models import SpotifyAccount
from accounts.services import account_onboard, app_get_or_create_default
from core.counters import counter_inc
from ingest.models import Album, Artist, DeadLetter, Track
from jobs.models import JobRun
from metrics import services_metrics
from metrics.models import MetricSnapshot
from metrics.services_metrics import metric_snapshot_take, retention_prune
from metrics.tasks import retention
from playlists.models import Playlist, PlaylistHistory, PlaylistPolicy, PlaylistSnapshot

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("short_probe_timeouts")]


def _account(user_id: str = "u1", health: str = "ok") -> SpotifyAccount:
    app = app_get_or_create_default()
    app.user_cap = 20
    app.save()
    account = account_onboard(app=app, spotify_user_id=user_id, display_name=user_id, refresh_token="r")
    SpotifyAccount.objects.filter(pk=account.pk).update(health=health)
    return account


def _playlist(account: SpotifyAccount) -> Playlist:
    policy, _ = PlaylistPolicy.objects.get_or_create(name="default")
    return Playlist.objects.create(account=account, policy=policy)


def _dead_letter(fingerprint: str, status: str, last_seen_days: int) -> DeadLetter:
    seen = timezone.now() - timedelta(days=last_seen_days)
    return DeadLetter.objects.create(
        source_service="spotify.albums", operation="ingest", error_type="SpotifyServerError",
        fingerprint=fingerprint, status=status, first_seen=seen, last_seen=seen,
    )


def test_snapshot_counts_the_fleet_and_is_idempotent_within_the_hour() -> None:
    _account("a", "ok")
    degraded = _account("b", "degraded")
    _account("c", "quarantined")
    _playlist(degraded)
    artist = Artist.objects.create(spotify_id="ar1", name="Artist")
    album = Album.objects.create(spotify_id="al1", name="Album", artist=artist)
    Track.objects.create(spotify_id="t1", name="T1", album=album, artist=artist, audio_features={"energy": 0.5})
    Track.objects.create(spotify_id="t2", name="T2", album=album, artist=artist)
    _dead_letter("f1", DeadLetter.Status.PENDING, 0)
    _dead_letter("f2", DeadLetter.Status.PURGED, 0)
    counter_inc("spotify_retries_total", 4, status="429")
    PlaylistHistory.objects.create(playlist=Playlist.objects.get(), action=PlaylistHistory.Action.RESHUFFLE, actor="schedule")
    now = timezone.now()
    JobRun.objects.create(job_name="x", task_name="x", task_id="f", status="failed", finished_at=now - timedelta(minutes=5))

    snapshot = metric_snapshot_take(now=now)
    assert snapshot.taken_at == now.replace(minute=0, second=0, microsecond=0)
    assert snapshot.accounts_total == 3
    assert snapshot.accounts_by_health == {"ok": 1, "degraded": 1, "quarantined": 1, "reauth_required": 0}
    assert (snapshot.playlists_active, snapshot.tracks_total, snapshot.tracks_with_features) == (1, 2, 1)
    assert (snapshot.dead_letters, snapshot.retries, snapshot.reshuffles, snapshot.job_failures) == (1, 4, 1, 1)

    _account("d", "ok")
    # Later in the same hour (now + a minute would cross it in a test run at hh:59).
    again = metric_snapshot_take(now=snapshot.taken_at + timedelta(minutes=59, seconds=59))
    assert again.pk == snapshot.pk
    assert again.accounts_total == 4
    assert MetricSnapshot.objects.count() == 1


def test_retention_prunes_what_aged_out_and_keeps_what_is_still_needed(settings, caplog) -> None:  # type: ignore[no-untyped-def]
    settings.RETENTION_JOB_RUNS_DAYS = 30
    settings.RETENTION_TASK_RESULTS_DAYS = 7
    settings.RETENTION_SNAPSHOTS_DAYS = 60
    settings.RETENTION_DEAD_LETTERS_DAYS = 30
    settings.RETENTION_METRIC_SNAPSHOTS_DAYS = 90
    now = timezone.now()
    old, recent = now - timedelta(days=45), now - timedelta(days=1)

    def run(task_id: str, job: str, started: object, status: str = "success") -> JobRun:
        return JobRun.objects.create(job_name=job, task_name=job, task_id=task_id, status=status, started_at=started, finished_at=started)

    run("old-1", "refresh_tokens", old - timedelta(days=1))
    run("old-2", "refresh_tokens", old)
    run("new-1", "refresh_tokens", recent)
    run("only-old", "retention", old)  # the newest run of its job: kept for lateness
    run("stuck", "ingest_albums_from_sources", old - timedelta(days=2), status="running")
    run("stuck-newer", "ingest_albums_from_sources", old)

    TaskResult.objects.create(task_id="r-old", status="SUCCESS")
    TaskResult.objects.create(task_id="r-new", status="SUCCESS")
    TaskResult.objects.filter(task_id="r-old").update(date_done=now - timedelta(days=8))

    playlist = _playlist(_account())
    current = PlaylistSnapshot.objects.create(playlist=playlist, seed=1)
    old_snapshot = PlaylistSnapshot.objects.create(playlist=playlist, seed=2)
    fresh_snapshot = PlaylistSnapshot.objects.create(playlist=playlist, seed=3)
    PlaylistSnapshot.objects.filter(pk__in=[current.pk, old_snapshot.pk]).update(created_at=now - timedelta(days=61))
    Playlist.objects.filter(pk=playlist.pk).update(current_snapshot=current)

    _dead_letter("purged-old", DeadLetter.Status.PURGED, 31)
    _dead_letter("replayed-old", DeadLetter.Status.REPLAYED, 31)
    pending_old = _dead_letter("pending-old", DeadLetter.Status.PENDING, 31)
    purged_new = _dead_letter("purged-new", DeadLetter.Status.PURGED, 2)

    MetricSnapshot.objects.create(taken_at=now - timedelta(days=91))
    kept_metric = MetricSnapshot.objects.create(taken_at=now - timedelta(days=89))

    with caplog.at_level(logging.INFO, logger="metrics.services_metrics"):
        summary = retention_prune(now=now)

    assert summary == {"job_runs": 2, "task_results": 1, "playlist_snapshots": 1, "dead_letters": 2, "metric_snapshots": 1}
    assert set(JobRun.objects.values_list("task_id", flat=True)) == {"new-1", "only-old", "stuck", "stuck-newer"}
    assert set(TaskResult.objects.values_list("task_id", flat=True)) == {"r-new"}
    assert set(PlaylistSnapshot.objects.values_list("pk", flat=True)) == {current.pk, fresh_snapshot.pk}
    assert set(DeadLetter.objects.values_list("pk", flat=True)) == {pending_old.pk, purged_new.pk}
    assert list(MetricSnapshot.objects.values_list("pk", flat=True)) == [kept_metric.pk]
    messages = [record.getMessage() for record in caplog.records]
    assert "Pruned 2 job runs older than 30 days" in messages
    assert "Pruned 1 task results older than 7 days" in messages
    assert "Pruned 1 playlist snapshots older than 60 days" in messages
    assert "Pruned 2 dead letters older than 30 days" in messages
    assert "Pruned 1 metric snapshots older than 90 days" in messages

    assert retention_prune(now=now) == dict.fromkeys(summary, 0)


def test_retention_task_records_its_counts_in_the_job_history() -> None:
    MetricSnapshot.objects.create(taken_at=timezone.now() - timedelta(days=400))
    result = retention.apply()
    run = JobRun.objects.get(task_id=result.id)
    assert run.job_name == "retention"
    assert run.status == JobRun.Status.SUCCESS
    assert run.summary["metric_snapshots"] == 1


def test_the_newest_run_of_each_job_is_found_once_per_prune_however_many_batches(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(services_metrics, "RETENTION_BATCH_SIZE", 2)
    old = timezone.now() - timedelta(days=45)

    def run(task_id: str, job: str, **times: object) -> None:
        JobRun.objects.create(job_name=job, task_name=job, task_id=task_id, **times)

    for job in ("refresh_tokens", "verify_playlists", "retention"):
        for i in range(3):
            run(f"{job}-{i}", job, status="success", started_at=old + timedelta(hours=i))
    # Queued and never started: JobRun's order (-started_at, nulls first, then -id) makes the last
    # such run its job's newest.
    run("verify_playlists-queued-0", "verify_playlists", queued_at=old)
    run("verify_playlists-queued-1", "verify_playlists", queued_at=old)
    run("retention-queued", "retention", queued_at=old)

    with CaptureQueriesContext(connection) as queries:
        pruned = retention_prune()["job_runs"]

    assert pruned == 2 + 4 + 3
    assert set(JobRun.objects.values_list("task_id", flat=True)) == {
        "refresh_tokens-2",
        "verify_playlists-queued-1",
        "retention-queued",
    }
    reads = [q["sql"] for q in queries.captured_queries if '"metrics_jobrun"' in q["sql"] and "DELETE" not in q["sql"]]
    # The names and each one's newest run, once; then ids: 8 started runs in 4 batches and an empty
    # 5th, 1 never started in 1 and an empty 2nd.
    assert len(reads) == 2 + 5 + 2
    assert "WITH RECURSIVE" in reads[0] and "UNION ALL" in reads[1]
    assert not any("DISTINCT ON" in sql for sql in reads)
