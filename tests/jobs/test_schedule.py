from __future__ import annotations

import json

from django.conf import settings
from django.contrib.auth.models import User
from django.test import Client
from django.urls import reverse
from django_celery_beat.models import IntervalSchedule, PeriodicTask
from django_celery_beat.schedulers import DatabaseScheduler

from core.redis import get_redis
from jobs.schedule import schedule_sync
from jobs.specs import JOBS
from opsconsole.celery import app as celery_app


def test_every_job_of_the_design_has_a_utc_crontab_row(db: None) -> None:
    schedule_sync()
    rows = {t.name: t for t in PeriodicTask.objects.select_related("crontab")}
    assert set(rows) >= {job.name for job in JOBS}
    assert rows["refresh_tokens"].crontab.minute == "0,30"
    assert (rows["scale_playlists_daily"].crontab.hour, rows["scale_playlists_daily"].crontab.minute) == ("2", "0")
    assert (rows["fetch_audio_features"].crontab.hour, rows["fetch_audio_features"].crontab.minute) == ("3", "30")
    assert (rows["ensure_playlist_for_account"].crontab.hour, rows["ensure_playlist_for_account"].crontab.minute) == ("4", "10")
    assert all(str(t.crontab.timezone) == "UTC" for t in rows.values())
    assert all(json.loads(t.headers)["trigger"] == "schedule" for t in rows.values())


def test_every_job_is_a_registered_celery_task() -> None:
    celery_app.loader.import_default_modules()
    missing = [job.name for job in JOBS if job.task not in celery_app.tasks]
    assert missing == []


def test_running_the_setup_twice_changes_nothing_and_keeps_an_operators_toggle(db: None) -> None:
    assert schedule_sync()["created"] == len(JOBS)
    PeriodicTask.objects.filter(name="ingest_albums_from_sources").update(enabled=False)
    second = schedule_sync()
    assert second == {"created": 0, "updated": 0, "unchanged": len(JOBS)}
    assert PeriodicTask.objects.get(name="ingest_albums_from_sources").enabled is False


def _queued_messages() -> int:
    queue_key = settings.CELERY_BROKER_KEY_PREFIX + settings.CELERY_TASK_DEFAULT_QUEUE
    return int(get_redis().llen(queue_key))


def _admin_toggle(client: Client, task: PeriodicTask, action: str) -> None:
    response = client.post(
        reverse("admin:django_celery_beat_periodictask_changelist"),
        {"action": action, "_selected_action": [task.pk]},
        follow=True,
    )
    assert response.status_code == 200


# Beat's scheduler calls close_old_connections(), which drops a connection held inside a
# test transaction: run it the way beat runs, in autocommit.
def test_disabling_in_the_admin_stops_beat_sending_without_a_restart(transactional_db: None) -> None:
    superuser = User.objects.create_superuser("beat-admin", "b@example.com", "pw-beat-123!")
    every_second, _ = IntervalSchedule.objects.get_or_create(every=1, period=IntervalSchedule.SECONDS)
    task = PeriodicTask.objects.create(name="beat-probe", task="metrics_snapshot", interval=every_second)
    scheduler = DatabaseScheduler(app=celery_app, lazy=False)
    client = Client()
    client.force_login(superuser)

    before = _queued_messages()
    scheduler.apply_entry(scheduler.schedule["beat-probe"], producer=None)
    assert _queued_messages() == before + 1

    _admin_toggle(client, task, "disable_tasks")
    # The same scheduler object, no restart: it notices the change through PeriodicTasks.
    assert "beat-probe" not in scheduler.schedule

    _admin_toggle(client, task, "enable_tasks")
    assert "beat-probe" in scheduler.schedule
    scheduler.apply_entry(scheduler.schedule["beat-probe"], producer=None)
    assert _queued_messages() == before + 2
