"""Every rule names its runbook; notifications, the API and the admin carry the link, and the
console serves the runbook to staff."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.test import Client

from alerts.evaluator import alerts_evaluate
from alerts.models import Alert, AlertRule
from alerts.rules import RULES
from alerts.services import channel_create
from tests.fixtures_alerts import HttpReceiver, SmtpInbox, deliver_pending, make_dead_letters, rule_only

pytestmark = pytest.mark.django_db

RUNBOOKS = Path(settings.BASE_DIR) / "docs" / "runbooks"


def test_every_built_in_rule_names_a_runbook_that_exists() -> None:
    missing = [spec.name for spec in RULES if not spec.runbook or not (RUNBOOKS / spec.runbook).is_file()]
    assert missing == []


def test_the_seeded_rules_carry_their_runbook_and_the_api_answers_its_url(alert_rules: list, superuser: Any) -> None:
    client = Client()
    client.force_login(superuser)
    rows = client.get("/api/v1/alert-rules?page_size=100").json()["results"]
    by_name = {row["name"]: row["runbook_url"] for row in rows}
    assert by_name["ScraperStalled"] == f"{settings.RUNBOOK_BASE_URL}/stalled-ingest.md"
    assert all(url.startswith(settings.RUNBOOK_BASE_URL) for url in by_name.values())


def test_an_operator_may_point_a_rule_at_the_company_wiki(alert_rules: list) -> None:
    rule = AlertRule.objects.get(name="BeatGone")
    rule.runbook = "https://wiki.example.com/ops/beat"
    assert rule.runbook_url() == "https://wiki.example.com/ops/beat"


def test_an_email_and_a_webhook_carry_the_runbook_link(smtp_inbox: SmtpInbox, http_receiver: HttpReceiver) -> None:
    mail = channel_create(kind="email", name="on-call mail", target="oncall@example.com", actor="cli:test")
    hook = channel_create(kind="webhook", name="pager hook", target=http_receiver.url, actor="cli:test")
    rule_only("DLQDepthWarning", channels=[mail, hook], params={"threshold": 1})
    make_dead_letters(2)
    assert alerts_evaluate()["opened"] == 1
    assert sorted(r["outcome"] for r in deliver_pending()) == ["sent", "sent"]
    link = f"{settings.RUNBOOK_BASE_URL}/dead-letters-circuit-breakers.md"
    assert f"Runbook: {link}" in smtp_inbox.messages[0].get_payload()
    assert http_receiver.wait_for(1)[0].json()["runbook"] == link


def test_the_alert_page_links_its_runbook(superuser: Any, alert_rules: list) -> None:
    rule_only("DLQDepthWarning", channels=[], params={"threshold": 1})
    make_dead_letters(2)
    alerts_evaluate()
    alert = Alert.objects.get(rule__name="DLQDepthWarning")
    client = Client()
    client.force_login(superuser)
    page = client.get(f"/admin/alerts/alert/{alert.pk}/change/").content.decode()
    assert f'href="{settings.RUNBOOK_BASE_URL}/dead-letters-circuit-breakers.md"' in page


def test_staff_read_a_runbook_from_the_console_and_nobody_reads_outside_the_folder(viewer: Any) -> None:
    anonymous = Client().get("/runbooks/stalled-ingest.md")
    assert anonymous.status_code == 302 and "/admin/login/" in anonymous["Location"]
    client = Client()
    client.force_login(viewer)
    page = client.get("/runbooks/stalled-ingest.md")
    assert page.status_code == 200 and page["Content-Type"] == "text/plain; charset=utf-8"
    assert page.content.decode() == (RUNBOOKS / "stalled-ingest.md").read_text()
    assert "stalled-ingest.md" in client.get("/runbooks/").content.decode()
    for name in ("no-such-runbook.md", "..%2Fdemo.md", "settings.py", ".hidden.md"):
        assert client.get(f"/runbooks/{name}").status_code == 404
