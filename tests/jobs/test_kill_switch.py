"""The kill switch (jobs.control, docs/runbooks/kill-switch.md): all work paused with a reason and
an optional resume time; only the admin role throws or resumes it, refusals audited; a banner on
every admin page, in health and on the operations home; a real worker's intake stops (a worker
started meanwhile too) and beat sends nothing, until beat's own tick resumes it at its time."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
import time_machine
from django.conf import settings
from django.contrib.auth.models import User
from django.core.management import CommandError, call_command
from django.test import Client
from django.utils import timezone
from django_celery_beat.models import IntervalSchedule, PeriodicTask

from audit.models import AuditEvent
from jobs.control import (
    kill_switch_engage,
    kill_switch_get,
    kill_switch_release,
    kill_switch_resume_due,
    queue_pause,
    queue_resume,
    queues_held,
    queues_paused,
)
from jobs.models import JobRun
from jobs.queues import queue_lengths
from jobs.services import job_enqueue
from tests.fixtures_clients import client_for, token_client

URL = "/api/v1/kill-switch"
ADMIN_PAGE = "/admin/jobs/killswitch/"


def _post(client: Client, body: dict[str, Any]) -> Any:
    return client.post(URL, json.dumps(body), content_type="application/json")


def _later(**delta: float) -> str:
    return (timezone.now() + timedelta(**delta)).isoformat()


@pytest.mark.django_db
def test_a_throw_without_a_reason_with_a_past_resume_time_or_an_unknown_field_is_refused(superuser: User) -> None:
    admin = token_client(superuser)

    missing = _post(admin, {"resume_at": _later(hours=1)})
    blank = _post(admin, {"reason": "   "})
    past = _post(admin, {"reason": "deploy gone wrong", "resume_at": _later(minutes=-1)})
    naive = _post(admin, {"reason": "deploy gone wrong", "resume_at": "2099-01-01T00:00:00"})
    unknown = _post(admin, {"reason": "deploy gone wrong", "pause_beat_only": True})
    resume_with_body = admin.delete(URL, json.dumps({"force": True}), content_type="application/json")

    assert [r.status_code for r in (missing, blank, past, unknown, resume_with_body)] == [400] * 5
    assert list(missing.json()["errors"]) == ["reason"] and list(blank.json()["errors"]) == ["reason"]
    assert list(past.json()["errors"]) == ["resume_at"] and "past" in past.json()["errors"]["resume_at"][0]
    # A time without a zone is taken as UTC (the server's zone), far in the future: accepted.
    assert naive.status_code == 200 and naive.json()["resume_at"].startswith("2099-01-01T00:00:00")
    assert list(unknown.json()["errors"]) == ["pause_beat_only"] and list(resume_with_body.json()["errors"]) == ["force"]
    assert [e.action for e in AuditEvent.objects.all()] == ["kill_switch.engage"]


@pytest.mark.django_db
def test_only_the_admin_role_throws_or_resumes_it_and_each_refusal_is_audited(
    viewer: User, operator: User, superuser: User
) -> None:
    body = {"reason": "Spotify 429 storm", "resume_at": _later(hours=1)}
    refused = [
        _post(token_client(viewer), body),
        _post(token_client(operator), body),
        token_client(operator).delete(URL),
        _post(token_client(superuser, scope="read"), body),
    ]
    assert [r.status_code for r in refused] == [403] * 4
    assert refused[1].json()["detail"] == "Only the admin role may throw or resume the kill switch."
    assert kill_switch_get().engaged is False
    assert [(e.actor, e.action, e.outcome, e.details["why"]) for e in AuditEvent.objects.order_by("id")] == [
        ("api:victor", "kill_switch.engage", "refused", "not in the admin role"),
        ("api:olive", "kill_switch.engage", "refused", "not in the admin role"),
        ("api:olive", "kill_switch.resume", "refused", "not in the admin role"),
        ("api:root", "kill_switch.engage", "refused", "read-scope token"),
    ]

    thrown = _post(token_client(superuser), body)
    assert thrown.status_code == 200, thrown.content
    state = token_client(viewer).get(URL).json()  # everyone on staff may read it
    assert (state["engaged"], state["reason"], state["by"]) == (True, "Spotify 429 storm", "api:root")
    assert state["since"] and state["resume_at"] == body["resume_at"].replace("+00:00", "Z")

    resumed = token_client(superuser).delete(URL)
    assert resumed.status_code == 200 and resumed.json() == {
        "engaged": False,
        "reason": "",
        "by": "",
        "since": None,
        "resume_at": None,
    }
    done = AuditEvent.objects.filter(outcome="ok").order_by("id")
    assert [(e.actor, e.action, e.target_repr) for e in done] == [
        ("api:root", "kill_switch.engage", "kill switch"),
        ("api:root", "kill_switch.resume", "kill switch"),
    ]
    assert done[0].details["reason"] == "Spotify 429 storm" and done[1].details["automatic"] is False


@pytest.mark.django_db
def test_the_banner_health_and_the_home_strip_show_an_engaged_switch_until_it_is_resumed(viewer: User, superuser: User) -> None:
    kill_switch_engage(reason="bad deploy 4.2", resume_at=None, actor="cli:ops")
    browser = client_for(viewer)

    for page in ("/admin/", "/admin/jobs/jobrun/", "/admin/metrics/metricsnapshot/dashboard/", ADMIN_PAGE):
        html = browser.get(page).content.decode()
        assert 'id="ops-banner-kill-switch"' in html, page
        assert "Kill switch engaged by cli:ops: all work paused. Reason: bad deploy 4.2. Resumes only by hand." in html
    home = browser.get("/admin/").content.decode()
    assert '<a href="/admin/jobs/killswitch/" id="home-kill_switch" class="ops-bad"><strong>ON</strong>kill switch' in home
    assert "Only the admin role may throw or resume the kill switch." in browser.get(ADMIN_PAGE).content.decode()

    health = token_client(superuser).get("/api/health").json()
    assert health["status"] == "degraded" and "kill_switch" in health["problems"]
    assert (health["kill_switch"]["engaged"], health["kill_switch"]["reason"], health["kill_switch"]["by"]) == (
        True,
        "bad deploy 4.2",
        "cli:ops",
    )
    assert Client().get("/health").json() == {"status": "degraded"}  # anonymous: the status only
    assert "kill_switch_engaged" in token_client(superuser).get("/api/ops/queues").json()["warnings"]

    kill_switch_release(actor="cli:ops")
    assert 'id="ops-banner-kill-switch"' not in browser.get("/admin/").content.decode()
    assert token_client(superuser).get("/api/health").json()["kill_switch"]["engaged"] is False


@pytest.mark.django_db
def test_the_admin_page_throws_it_after_a_step_up_and_refuses_an_operator(operator: User, superuser: User) -> None:
    with time_machine.travel("2026-05-01 09:00:00", tick=False) as traveller:
        browser = Client(REMOTE_ADDR="198.51.100.61")
        assert browser.post("/admin/login/?next=/admin/", {"username": "root", "password": "pw-root-123!"}).status_code == 302
        # Reachable from the operations home, first in its section.
        assert ADMIN_PAGE in browser.get("/admin/").content.decode()
        form = {"operation": "engage", "reason": "", "resume_at": "2026-05-01 12:00", "confirmed": "on"}

        no_reason = browser.post(ADMIN_PAGE, form)
        assert no_reason.status_code == 400 and "a reason is required" in no_reason.content.decode()
        unconfirmed = browser.post(ADMIN_PAGE, {**form, "reason": "bad deploy", "confirmed": ""})
        assert unconfirmed.status_code == 400 and "Tick the box" in unconfirmed.content.decode()
        past = browser.post(ADMIN_PAGE, {**form, "reason": "bad deploy", "resume_at": "2026-05-01 08:00"})
        assert past.status_code == 400 and "in the past" in past.content.decode()

        traveller.shift((settings.STEP_UP_MINUTES + 1) * 60)  # the sign-in is too old for a destructive action
        step_up = browser.post(ADMIN_PAGE, {**form, "reason": "bad deploy"})
        assert step_up.status_code == 200 and 'id="step-up-form"' in step_up.content.decode()
        assert kill_switch_get().engaged is False
        thrown = browser.post(
            ADMIN_PAGE, {**form, "reason": "bad deploy", "_step_up": "1", "_step_up_password": "pw-root-123!"}, follow=True
        )
        assert "Kill switch thrown: all work paused" in [str(m) for m in thrown.context["messages"]][0]
        switch = kill_switch_get()
        assert (switch.engaged, switch.reason, switch.engaged_by, switch.resume_at.isoformat()) == (
            True,
            "bad deploy",
            "admin:root",
            "2026-05-01T12:00:00+00:00",
        )

        refused = client_for(operator).post(ADMIN_PAGE, {"operation": "release"})
        assert refused.status_code == 403 and kill_switch_get().engaged is True

        resumed = browser.post(ADMIN_PAGE, {"operation": "release"}, follow=True)
        assert [str(m) for m in resumed.context["messages"]] == ["Work resumed (no worker to give queues back to)."]
    assert [(e.actor, e.action, e.outcome) for e in AuditEvent.objects.exclude(action="auth.step_up").order_by("id")] == [
        ("admin:root", "kill_switch.engage", "ok"),
        ("admin:olive", "kill_switch.resume", "refused"),
        ("admin:root", "kill_switch.resume", "ok"),
    ]


@pytest.mark.django_db
def test_the_command_throws_and_resumes_it_and_refuses_bad_input() -> None:
    with pytest.raises(CommandError, match="a reason is required"):
        call_command("kill_switch", "on")
    with pytest.raises(CommandError, match="in the past"):
        call_command("kill_switch", "on", "--reason", "x", "--resume-at", "2020-01-01T00:00:00Z")
    call_command("kill_switch", "on", "--reason", "database failover", "--resume-at", "2099-01-01T00:00:00Z")
    call_command("kill_switch", "on", "--reason", "database failover", "--resume-at", "2099-01-01 00:30")  # UTC
    switch = kill_switch_get()
    assert (switch.reason, switch.resume_at.isoformat()) == ("database failover", "2099-01-01T00:30:00+00:00")
    call_command("kill_switch", "off")
    assert kill_switch_get().engaged is False
    assert [(e.door, e.action) for e in AuditEvent.objects.order_by("id")] == [
        ("cli", "kill_switch.engage"),
        ("cli", "kill_switch.engage"),
        ("cli", "kill_switch.resume"),
    ]


@pytest.mark.django_db
def test_the_automatic_resume_happens_once_and_only_when_due() -> None:
    kill_switch_engage(reason="maintenance", resume_at=timezone.now() + timedelta(minutes=5), actor="cli:ops")
    assert kill_switch_resume_due() is False and kill_switch_get().engaged is True
    later = timezone.now() + timedelta(minutes=6)
    assert kill_switch_resume_due(now=later) is True
    assert kill_switch_resume_due(now=later) is False  # a second beat (or tick) finds nothing to do
    resume = AuditEvent.objects.get(action="kill_switch.resume")
    assert (resume.actor, resume.door, resume.details["automatic"]) == ("schedule", "system", True)


@pytest.mark.django_db
def test_a_queue_paused_on_its_own_stays_paused_when_the_switch_is_resumed() -> None:
    queue_pause(name="default", actor="cli:ops")
    kill_switch_engage(reason="maintenance", resume_at=None, actor="cli:ops")
    assert queues_held() == {"default"}
    assert queue_resume(name="default", actor="cli:ops").paused is True  # still held by the switch
    queue_pause(name="default", actor="cli:ops")

    kill_switch_release(actor="cli:ops")

    assert queues_held() == {"default"} == queues_paused()
    assert queue_resume(name="default", actor="cli:ops").paused is False and queues_held() == set()


@pytest.mark.slow
def test_a_real_worker_takes_nothing_and_beat_sends_nothing_until_beat_resumes_at_the_time(
    start_celery_worker: Callable[..., Any], start_celery_beat: Callable[..., Any], superuser: User
) -> None:
    every_second, _ = IntervalSchedule.objects.get_or_create(every=1, period=IntervalSchedule.SECONDS)
    PeriodicTask.objects.create(name="kill switch probe", task="metrics_snapshot", interval=every_second)
    beat = start_celery_beat()
    running = start_celery_worker()

    def scheduled_runs() -> int:
        return JobRun.objects.filter(trigger="schedule", status="success").count()

    running.wait_until(lambda: scheduled_runs() >= 1, timeout=60)  # beat sends, the worker runs
    admin = token_client(superuser)
    assert _post(admin, {"reason": "incident drill", "resume_at": _later(hours=1)}).status_code == 200
    assert AuditEvent.objects.get(action="kill_switch.engage").details["workers"] == [running.hostname]
    time.sleep(1.5)  # anything beat or the worker had in flight when it was thrown settles
    waiting, runs = queue_lengths(["default"])["default"], JobRun.objects.count()

    run = job_enqueue("metrics_snapshot", trigger=JobRun.Trigger.API, triggered_by="api:test")
    # A worker started under the switch stays off every queue too; a queue resumed on its own stays held.
    started_later = start_celery_worker()
    assert admin.post("/api/v1/queues/default/resume").json()["paused"] is True
    time.sleep(3)  # three of beat's one-second ticks
    assert running.ping() and started_later.ping()  # up and answering: only their intake stopped
    assert JobRun.objects.get(pk=run.pk).status == "queued"
    assert (queue_lengths(["default"])["default"], JobRun.objects.count()) == (waiting + 1, runs + 1)
    assert beat.log().count("kill switch engaged: kill switch probe not sent") >= 2

    # Thrown again with a resume time seconds away: beat's tick resumes it, with no task to run it.
    assert _post(admin, {"reason": "incident drill", "resume_at": _later(seconds=2)}).status_code == 200
    running.wait_until(lambda: JobRun.objects.filter(pk=run.pk, status="success").exists(), timeout=60)
    resume = AuditEvent.objects.get(action="kill_switch.resume")
    assert (resume.actor, resume.details["automatic"]) == ("schedule", True)
    assert resume.details["workers"] == sorted([running.hostname, started_later.hostname])
    assert kill_switch_get().engaged is False
    after = scheduled_runs()
    running.wait_until(lambda: scheduled_runs() > after, timeout=30)  # and beat sends again
