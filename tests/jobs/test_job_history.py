from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import time_machine
from django.contrib.auth.models import User
from django.test import Client
from django.urls import reverse
from django_celery_beat.models import PeriodicTask

from accounts.tasks import account_refresh_token_one, refresh_tokens
from jobs.models import JobRun
from jobs.schedule import schedule_sync
from jobs.selectors import job_lateness


def test_every_task_run_writes_a_job_run_with_its_summary(db: None) -> None:
    result = refresh_tokens.apply()

    run = JobRun.objects.get(task_id=result.id)
    assert run.job_name == "refresh_tokens"
    assert run.status == JobRun.Status.SUCCESS
    assert run.trigger == JobRun.Trigger.SCHEDULE
    assert run.summary == {"refreshed": 0, "failed": 0, "checked": 0}
    assert run.started_at and run.finished_at and run.duration_ms is not None


def test_a_failing_job_shows_its_error_and_the_admin_can_retry_it(
    db: None, superuser: User, django_capture_on_commit_callbacks
) -> None:  # type: ignore[no-untyped-def]
    result = account_refresh_token_one.apply(args=[str(uuid.uuid4())])
    failed = JobRun.objects.get(task_id=result.id)
    assert failed.status == JobRun.Status.FAILED
    assert "DoesNotExist" in failed.error

    client = Client()
    client.force_login(superuser)
    changelist = client.get(reverse("admin:jobs_jobrun_changelist") + "?status=failed")
    assert "DoesNotExist" in changelist.content.decode()

    with django_capture_on_commit_callbacks() as callbacks:
        response = client.post(
            reverse("admin:jobs_jobrun_changelist"), {"action": "retry", "_selected_action": [failed.pk]}, follow=True
        )
    assert "1 job queued again." in [str(m) for m in response.context["messages"]]
    assert len(callbacks) == 1
    retry = JobRun.objects.exclude(pk=failed.pk).get()
    assert (retry.trigger, retry.triggered_by, retry.status, retry.args) == ("admin", "admin:root", "queued", failed.args)


def test_run_now_in_the_admin_goes_through_a_real_worker(celery_worker_process, django_user_model) -> None:  # type: ignore[no-untyped-def]
    schedule_sync()
    admin_user = django_user_model.objects.create_superuser("runner", "r@example.com", "pw-runner-123!")
    client = Client()
    client.force_login(admin_user)
    task = PeriodicTask.objects.get(name="refresh_tokens")

    response = client.post(
        reverse("admin:django_celery_beat_periodictask_changelist"),
        {"action": "run_now", "_selected_action": [task.pk]},
        follow=True,
    )

    assert any("1 task queued" in str(m) for m in response.context["messages"])
    run = JobRun.objects.get(job_name="refresh_tokens")
    finished = celery_worker_process.wait_until(
        lambda: JobRun.objects.filter(pk=run.pk, status=JobRun.Status.SUCCESS).first(), timeout=60
    )
    assert finished.trigger == "admin" and finished.triggered_by == "admin:runner"
    assert finished.worker.startswith(celery_worker_process.hostname.split("@")[0])


def _refresh_task() -> PeriodicTask:
    schedule_sync()
    task = PeriodicTask.objects.get(name="refresh_tokens")  # every 30 min, 10 min grace
    PeriodicTask.objects.filter(pk=task.pk).update(date_changed=datetime(2026, 1, 1, tzinfo=UTC))
    task.refresh_from_db()
    return task


def test_a_job_whose_slot_passed_its_grace_without_a_run_is_late(db: None) -> None:
    task = _refresh_task()
    at = datetime(2026, 3, 1, 12, 11, tzinfo=UTC)  # 12:00 slot + 10 min grace has passed

    status = job_lateness(task, now=at)

    assert status.late
    assert status.expected_at == datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
    assert "no run started" in status.reason
    assert not job_lateness(task, now=datetime(2026, 3, 1, 12, 9, tzinfo=UTC)).late or job_lateness(
        task, now=datetime(2026, 3, 1, 12, 9, tzinfo=UTC)
    ).expected_at == datetime(2026, 3, 1, 11, 30, tzinfo=UTC)


def test_a_run_in_time_is_not_late_but_one_stuck_past_grace_is(db: None) -> None:
    task = _refresh_task()
    slot = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
    run = JobRun.objects.create(
        job_name="refresh_tokens",
        task_name="refresh_tokens",
        task_id="t-1",
        status=JobRun.Status.SUCCESS,
        started_at=slot + timedelta(seconds=5),
        finished_at=slot + timedelta(seconds=9),
    )
    assert not job_lateness(task, now=slot + timedelta(minutes=20)).late

    JobRun.objects.filter(pk=run.pk).update(status=JobRun.Status.RUNNING, finished_at=None)
    stuck = job_lateness(task, now=slot + timedelta(minutes=20))
    assert stuck.late and "has not finished" in stuck.reason


def test_a_disabled_job_is_never_late(db: None) -> None:
    task = _refresh_task()
    task.enabled = False
    assert not job_lateness(task, now=datetime(2026, 3, 1, 12, 11, tzinfo=UTC)).late


def test_late_jobs_show_in_the_admin_and_the_jobs_api(db: None, superuser: User, viewer: User) -> None:
    _refresh_task()
    admin_client, api_client = Client(), Client()
    admin_client.force_login(superuser)
    api_client.force_login(viewer)
    with time_machine.travel(datetime(2026, 3, 1, 12, 11, tzinfo=UTC), tick=False):
        page = admin_client.get(reverse("admin:django_celery_beat_periodictask_changelist")).content.decode()
        jobs = {job["name"]: job for job in api_client.get("/api/v1/jobs/list").json()["jobs"]}
    assert "LATE" in page
    assert jobs["refresh_tokens"]["late"] is True
    assert jobs["refresh_tokens"]["crontab"] == "0,30 * * * *"
    assert jobs["refresh_tokens"]["next_run_at"].startswith("2026-03-01T12:30")


def test_jobs_update_toggles_and_runs_now_through_the_api(db: None, operator: User, django_capture_on_commit_callbacks) -> None:  # type: ignore[no-untyped-def]
    schedule_sync()
    client = Client()
    client.force_login(operator)

    off = client.post("/api/v1/jobs/update", {"name": "fetch_audio_features", "enabled": False}, content_type="application/json")
    assert off.status_code == 200 and off.json() == {"name": "fetch_audio_features", "enabled": False, "changed": True}
    assert PeriodicTask.objects.get(name="fetch_audio_features").enabled is False

    with django_capture_on_commit_callbacks() as callbacks:
        queued = client.post(
            "/api/v1/jobs/update", {"name": "metrics_snapshot", "run_now": True}, content_type="application/json"
        )
    assert queued.status_code == 202
    assert len(callbacks) == 1
    run = JobRun.objects.get(task_id=queued.json()["task_id"])
    assert (run.trigger, run.triggered_by, run.status) == ("api", "api:olive", "queued")


def test_jobs_update_rejects_bad_input_with_field_errors(db: None, operator: User, viewer: User) -> None:
    schedule_sync()
    client = Client()
    client.force_login(operator)
    unknown = client.post("/api/v1/jobs/update", {"name": "nope", "enabled": True}, content_type="application/json")
    nothing = client.post("/api/v1/jobs/update", {"name": "metrics_snapshot"}, content_type="application/json")
    wrong_type = client.post(
        "/api/v1/jobs/update", {"name": "metrics_snapshot", "enabled": "maybe"}, content_type="application/json"
    )
    garbage = client.post("/api/v1/jobs/update", "{not json", content_type="application/json")
    assert unknown.status_code == 400 and "name" in unknown.json()["errors"]
    assert nothing.status_code == 400 and "enabled" in nothing.json()["errors"]
    assert wrong_type.status_code == 400 and "enabled" in wrong_type.json()["errors"]
    assert garbage.status_code == 400 and garbage.json()["detail"]

    viewer_client = Client()
    viewer_client.force_login(viewer)
    denied = viewer_client.post(
        "/api/v1/jobs/update", {"name": "metrics_snapshot", "enabled": False}, content_type="application/json"
    )
    assert denied.status_code == 403
    assert PeriodicTask.objects.get(name="metrics_snapshot").enabled is True
