"""Silences and maintenance windows: alerts still open and resolve, nobody is told, the timeline
says which silence held them; they end by themselves; every door refuses a silence that makes no
sense and audits the ones it makes."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
import time_machine
from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.test import Client
from django.utils import timezone

from accounts.models import SpotifyAccount
from alerts.evaluator import alerts_evaluate
from alerts.models import Alert, AlertEvent, AlertRule, AlertSilence, Notification, NotificationChannel
from alerts.services import channel_create, silence_create
from audit.models import AuditEvent
from ingest.models import DeadLetter
from tests.factories import SpotifyAccountFactory
from tests.fixtures_alerts import SmtpInbox, deliver_pending, make_dead_letters, rule_only

pytestmark = pytest.mark.django_db
SILENCES = "/api/v1/alert-silences"


@pytest.fixture
def email_channel(smtp_inbox: SmtpInbox) -> NotificationChannel:
    return channel_create(kind="email", name="on-call mail", target="oncall@example.com", actor="cli:test")


@pytest.fixture
def ops(operator: User) -> Client:
    from core.groups import ops_groups_sync

    ops_groups_sync()
    client = Client()
    client.force_login(operator)
    return client


def test_a_silenced_rule_opens_and_resolves_its_alert_in_the_timeline_and_tells_nobody(
    smtp_inbox: SmtpInbox, email_channel: NotificationChannel
) -> None:
    rule = rule_only("DLQDepthWarning", channels=[email_channel], params={"threshold": 0})
    silence = silence_create(
        rule=rule, subject="*", ends_at=timezone.now() + timedelta(hours=1), reason="DLQ drain", actor="cli:olive"
    )
    make_dead_letters(1)
    assert alerts_evaluate()["opened"] == 1
    DeadLetter.objects.update(status=DeadLetter.Status.PURGED)
    assert alerts_evaluate()["resolved"] == 1
    alert = Alert.objects.get(rule=rule)
    events = list(alert.events.values_list("kind", "note"))
    assert [kind for kind, _ in events] == ["opened", "silenced", "resolved"]
    assert events[1][1] == f"opened: silenced by #{silence.pk} (DLQ drain)"
    assert alert.state == "resolved"
    assert not Notification.objects.exists() and smtp_inbox.messages == []


def test_a_subject_glob_silences_only_the_matching_subjects_of_its_rule(
    smtp_inbox: SmtpInbox, email_channel: NotificationChannel
) -> None:
    rule = rule_only("AccountReauthRequired", channels=[email_channel])
    for name in ("Migrating 1", "migrating 2", "Kept"):
        SpotifyAccountFactory(display_name=name, health=SpotifyAccount.Health.REAUTH_REQUIRED)
    # A pattern for subjects that have not fired yet is fine when it names a rule.
    silence_create(rule=rule, subject="MIGRATING *", ends_at=timezone.now() + timedelta(hours=2), reason="move", actor="cli:t")
    assert alerts_evaluate()["opened"] == 3
    deliver_pending()
    assert smtp_inbox.subjects() == ["[CRITICAL] AccountReauthRequired: Kept (opened)"]
    assert AlertEvent.objects.filter(kind="silenced").count() == 2

    # A silence of another rule holds nothing here.
    other = AlertRule.objects.get(name="AccountQuarantined")
    silence_create(rule=other, subject="*", ends_at=timezone.now() + timedelta(hours=2), reason="x", actor="cli:t")
    SpotifyAccountFactory(display_name="Later", health=SpotifyAccount.Health.REAUTH_REQUIRED)
    alerts_evaluate()
    deliver_pending()
    assert smtp_inbox.subjects()[-1] == "[CRITICAL] AccountReauthRequired: Later (opened)"


def test_a_silence_expires_by_itself_and_what_it_held_is_told_then(
    smtp_inbox: SmtpInbox, email_channel: NotificationChannel
) -> None:
    rule = rule_only("DLQDepthWarning", channels=[email_channel], params={"threshold": 0})
    start = timezone.now()
    with time_machine.travel(start, tick=False) as clock:
        silence_create(rule=None, subject="*", ends_at=start + timedelta(hours=1), reason="deploy", actor="cli:olive")
        make_dead_letters(1)
        alerts_evaluate()
        for _ in range(3):
            clock.shift(timedelta(minutes=19))
            alerts_evaluate()
        assert deliver_pending() == []
        assert AlertEvent.objects.filter(kind="silenced").count() == 1  # once, not every minute
        clock.shift(timedelta(minutes=4))  # the silence is over and the alert still open
        alerts_evaluate()
        deliver_pending()
        assert smtp_inbox.subjects() == ["[WARNING] DLQDepthWarning: Dead letters (opened)"]
        DeadLetter.objects.update(status=DeadLetter.Status.PURGED)
        clock.shift(timedelta(minutes=1))
        alerts_evaluate()
        deliver_pending()
        assert AlertSilence.objects.get().status_at(timezone.now()) == "expired"
    assert smtp_inbox.subjects()[-1] == "[WARNING] DLQDepthWarning: Dead letters (resolved)"
    assert Alert.objects.get(rule=rule).state == "resolved"


def test_a_maintenance_window_starts_later_and_holds_only_while_it_lasts(
    smtp_inbox: SmtpInbox, email_channel: NotificationChannel
) -> None:
    rule_only("DLQDepthWarning", channels=[email_channel], params={"threshold": 0})
    start = timezone.now()
    with time_machine.travel(start, tick=False) as clock:
        window = silence_create(
            rule=None,
            subject="*",
            starts_at=start + timedelta(hours=1),
            ends_at=start + timedelta(hours=3),
            reason="database upgrade",
            actor="cli:olive",
        )
        assert window.status_at(start) == "scheduled"
        clock.shift(timedelta(hours=1, minutes=5))
        make_dead_letters(1)
        alerts_evaluate()
        assert deliver_pending() == []
        assert AlertEvent.objects.get(kind="silenced").note.startswith(f"opened: silenced by #{window.pk}")


def test_operators_create_list_and_expire_silences_through_the_api_and_each_is_audited(
    ops: Client, viewer: User, alert_rules: list
) -> None:
    ends = (timezone.now() + timedelta(hours=2)).isoformat()
    created = ops.post(
        SILENCES,
        {"rule": "BeatGone", "subject": "*", "ends_at": ends, "reason": "beat host reboot"},
        content_type="application/json",
    )
    assert created.status_code == 201, created.content
    body = created.json()
    assert (body["rule"], body["status"], body["created_by"]) == ("BeatGone", "active", "api:olive")

    later = timezone.now() + timedelta(days=1)
    window = ops.post(
        SILENCES,
        {"starts_at": later.isoformat(), "ends_at": (later + timedelta(hours=1)).isoformat(), "reason": "maintenance"},
        content_type="application/json",
    )
    assert window.status_code == 201 and window.json()["status"] == "scheduled" and window.json()["rule"] is None

    reader = Client()
    reader.force_login(viewer)
    assert [s["id"] for s in reader.get(f"{SILENCES}?status=active").json()["results"]] == [body["id"]]
    assert [s["id"] for s in reader.get(f"{SILENCES}?status=scheduled").json()["results"]] == [window.json()["id"]]
    assert reader.post(SILENCES, {"reason": "x"}, content_type="application/json").status_code == 403
    assert reader.delete(f"{SILENCES}/{body['id']}").status_code == 403

    expired = ops.delete(f"{SILENCES}/{body['id']}")
    assert expired.status_code == 200
    assert (expired.json()["status"], expired.json()["expired_by"]) == ("expired", "api:olive")
    again = ops.delete(f"{SILENCES}/{body['id']}")
    assert again.status_code == 409 and again.json()["detail"] == "The silence has already ended."
    assert ops.delete(f"{SILENCES}/999999").status_code == 404
    assert list(AuditEvent.objects.filter(action__startswith="alert_silence.").values_list("action", "actor").order_by("id")) == [
        ("alert_silence.create", "api:olive"),
        ("alert_silence.create", "api:olive"),
        ("alert_silence.expire", "api:olive"),
    ]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"rule": "BeatGone", "reason": "no end"}, "ends_at"),
        ({"rule": "BeatGone", "ends_at": "-1h", "reason": "past"}, "ends_at"),
        ({"rule": "BeatGone", "starts_at": "+3h", "ends_at": "+2h", "reason": "backwards"}, "ends_at"),
        ({"rule": "NoSuchRule", "ends_at": "+1h", "reason": "typo"}, "rule"),
        ({"subject": "ghost-*", "ends_at": "+1h", "reason": "matches nothing"}, "subject"),
        ({"rule": "BeatGone", "ends_at": "+1h"}, "reason"),
        ({"rule": "BeatGone", "ends_at": "+1h", "reason": "x", "created_by": "someone-else"}, "created_by"),
        ({"rule": "BeatGone", "ends_at": "+1h", "reason": "x", "matchers": []}, "matchers"),
        ({"rule": "BeatGone", "ends_at": "tomorrow", "reason": "x"}, "ends_at"),
    ],
)
def test_a_silence_that_makes_no_sense_is_a_400_naming_its_field(ops: Client, alert_rules: list, body: dict, field: str) -> None:
    now = timezone.now()
    offsets = {"-1h": now - timedelta(hours=1), "+1h": now + timedelta(hours=1), "+2h": now + timedelta(hours=2)}
    offsets["+3h"] = now + timedelta(hours=3)
    sent = {k: offsets[v].isoformat() if isinstance(v, str) and v in offsets else v for k, v in body.items()}
    answer = ops.post(SILENCES, sent, content_type="application/json")
    assert answer.status_code == 400, answer.content
    assert field in answer.json()["errors"], answer.json()
    assert not AlertSilence.objects.exists()
    assert not AuditEvent.objects.filter(action="alert_silence.create").exists()


def test_a_pattern_without_a_rule_is_accepted_once_it_matches_an_alert_the_console_has_seen(alert_rules: list) -> None:
    with pytest.raises(ValidationError) as refused:
        silence_create(rule=None, subject="spotify.*", ends_at=timezone.now() + timedelta(hours=1), reason="x", actor="cli:t")
    assert "subject" in refused.value.message_dict
    rule = AlertRule.objects.get(name="ConnectorDisabled")
    Alert.objects.create(rule=rule, subject="spotify.albums", subject_label="spotify.albums", severity="warning")
    silence = silence_create(
        rule=None, subject="spotify.*", ends_at=timezone.now() + timedelta(hours=1), reason="x", actor="cli:t"
    )
    assert silence.rule is None and silence.subject == "spotify.*"


def test_silence_for_two_hours_from_the_alert_list_holds_its_reminders(
    ops: Client, smtp_inbox: SmtpInbox, email_channel: NotificationChannel
) -> None:
    rule = rule_only("DLQDepthWarning", channels=[email_channel], params={"threshold": 0})
    make_dead_letters(1)
    alerts_evaluate()
    deliver_pending()
    alert = Alert.objects.get(rule=rule)
    before = timezone.now()
    answer = ops.post("/admin/alerts/alert/", {"action": "silence_2h", "_selected_action": [alert.pk]}, follow=True)
    assert "1 silence created, until" in answer.content.decode()
    silence = AlertSilence.objects.get()
    assert (silence.rule, silence.subject, silence.created_by) == (rule, "dead_letters", "admin:olive")
    assert before + timedelta(hours=2) <= silence.ends_at <= timezone.now() + timedelta(hours=2)
    assert AuditEvent.objects.filter(action="alert_silence.create", actor="admin:olive", target_id=str(silence.pk)).exists()
    assert alert.events.filter(kind="silenced", note__startswith=f"silence #{silence.pk} until").exists()

    with time_machine.travel(timezone.now() + rule.reminder_interval + timedelta(minutes=1), tick=False):
        assert alerts_evaluate()["reminded"] == 0
        assert deliver_pending() == []
    with time_machine.travel(timezone.now() + timedelta(hours=2, minutes=1), tick=False):
        assert alerts_evaluate()["reminded"] == 1
        deliver_pending()
    assert smtp_inbox.subjects()[-1] == "[WARNING] DLQDepthWarning: Dead letters (reminder)"


def test_the_admin_adds_silences_with_form_errors_for_bad_input_and_expires_them(ops: Client, alert_rules: list) -> None:
    rule = AlertRule.objects.get(name="QueueBacklog")
    form = ops.get("/admin/alerts/alertsilence/add/")
    assert form.status_code == 200 and 'name="ends_at_0"' in form.content.decode()
    past = timezone.now() - timedelta(hours=1)
    bad = ops.post(
        "/admin/alerts/alertsilence/add/",
        {
            "rule": rule.pk,
            "subject": "*",
            "starts_at_0": f"{past:%Y-%m-%d}",
            "starts_at_1": f"{past - timedelta(hours=1):%H:%M:%S}",
            "ends_at_0": f"{past:%Y-%m-%d}",
            "ends_at_1": f"{past:%H:%M:%S}",
            "reason": "too late",
        },
    )
    assert bad.status_code == 200 and "The end must be in the future." in bad.content.decode()
    nothing = ops.post(
        "/admin/alerts/alertsilence/add/",
        {
            "subject": "ghost-*",
            "ends_at_0": "2099-01-01",
            "ends_at_1": "00:00:00",
            "starts_at_0": "2026-01-01",
            "starts_at_1": "00:00:00",
            "reason": "x",
        },
    )
    assert nothing.status_code == 200 and "Matches no alert the console has seen" in nothing.content.decode()
    assert not AlertSilence.objects.exists()

    end = timezone.now() + timedelta(hours=3)
    good = ops.post(
        "/admin/alerts/alertsilence/add/",
        {
            "rule": rule.pk,
            "subject": "priority",
            "starts_at_0": f"{timezone.now():%Y-%m-%d}",
            "starts_at_1": f"{timezone.now():%H:%M:%S}",
            "ends_at_0": f"{end:%Y-%m-%d}",
            "ends_at_1": f"{end:%H:%M:%S}",
            "reason": "queue migration",
        },
    )
    assert good.status_code == 302, good.content.decode()[:3000]
    silence = AlertSilence.objects.get()
    assert (silence.rule, silence.subject, silence.created_by) == (rule, "priority", "admin:olive")
    listing = ops.get("/admin/alerts/alertsilence/?status=active").content.decode()
    assert "queue migration" in listing
    ops.post("/admin/alerts/alertsilence/", {"action": "expire_now", "_selected_action": [silence.pk]})
    silence.refresh_from_db()
    assert silence.expired_by == "admin:olive" and silence.status_at(timezone.now()) == "expired"
    assert list(AuditEvent.objects.filter(target_id=str(silence.pk)).values_list("action", flat=True).order_by("id")) == [
        "alert_silence.create",
        "alert_silence.expire",
    ]


def test_the_dashboard_shows_active_silences_and_scheduled_maintenance_windows(superuser: User, alert_rules: list) -> None:
    now = timezone.now()
    rule = AlertRule.objects.get(name="BeatGone")
    silence_create(rule=rule, subject="*", ends_at=now + timedelta(hours=1), reason="beat host reboot", actor="cli:olive")
    silence_create(
        rule=None,
        subject="*",
        starts_at=now + timedelta(days=1),
        ends_at=now + timedelta(days=1, hours=2),
        reason="database upgrade",
        actor="cli:olive",
    )
    gone = silence_create(rule=rule, subject="*", ends_at=now + timedelta(hours=1), reason="expired one", actor="cli:olive")
    AlertSilence.objects.filter(pk=gone.pk).update(expired_at=now, expired_by="cli:olive")
    client = Client()
    client.force_login(superuser)
    page = client.get("/admin/metrics/metricsnapshot/dashboard/").content.decode()
    panel = page[page.index('id="silences"') :]
    assert "beat host reboot" in panel and "database upgrade" in panel and "expired one" not in panel
    assert panel.index("Active") < panel.index("Scheduled")
    assert "every rule" in panel


def test_while_the_kill_switch_is_engaged_the_backlog_it_causes_pages_nobody(
    smtp_inbox: SmtpInbox, email_channel: NotificationChannel, django_capture_on_commit_callbacks: Any
) -> None:
    from jobs.control import kill_switch_engage, kill_switch_release
    from jobs.models import JobRun
    from jobs.services import job_enqueue

    backlog = rule_only("QueueBacklog", channels=[email_channel], params={"threshold": 0, "queue": ""})
    kill_switch_engage(reason="Spotify incident", resume_at=None, actor="cli:olive")
    with django_capture_on_commit_callbacks(execute=True):
        job_enqueue("metrics_snapshot", trigger=JobRun.Trigger.API)
    assert alerts_evaluate()["opened"] == 1
    alert = Alert.objects.get(rule=backlog)
    assert list(alert.events.values_list("kind", "note")) == [
        ("opened", alert.summary),
        ("silenced", "opened: held while the kill switch is engaged (Spotify incident)"),
    ]
    deliver_pending()
    assert smtp_inbox.messages == []

    # Resumed with the backlog still there: now it is news.
    kill_switch_release(actor="cli:olive")
    alerts_evaluate()
    deliver_pending()
    assert smtp_inbox.subjects() == [f"[WARNING] QueueBacklog: {alert.subject} (opened)"]
