"""LoginFailureBurst: failed sign-ins spread over usernames and addresses, which the lockout
counts apart, still add up to one alert (docs/runbooks/staff-access.md)."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from django.test import Client
from prometheus_client.parser import text_string_to_metric_families

from alerts.evaluator import alerts_evaluate
from alerts.models import Alert
from tests.alerts.test_alert_metrics import scrape_text
from tests.fixtures_alerts import rule_only

pytestmark = pytest.mark.django_db


def _spray(count: int) -> None:
    """One wrong password per username and address: no lockout anywhere."""
    for n in range(count):
        Client(REMOTE_ADDR=f"198.51.100.{n + 1}").post("/admin/login/", {"username": f"user{n}", "password": "guess"})


def test_a_burst_of_failed_sign_ins_fires_and_fewer_do_not(superuser: User) -> None:
    rule_only("LoginFailureBurst", channels=[], params={"failures": 6, "minutes": 5})
    _spray(5)
    Client(HTTP_AUTHORIZATION="Token wrong", REMOTE_ADDR="203.0.113.1").get("/api/v1/job-runs")
    assert alerts_evaluate()["opened"] == 1
    alert = Alert.objects.get(rule__name="LoginFailureBurst")
    assert "6 failed sign-ins in the last 5 min (admin 5, api 1; threshold 6)" in alert.summary


def test_fewer_failures_than_the_rule_asks_stay_quiet(superuser: User) -> None:
    rule_only("LoginFailureBurst", channels=[], params={"failures": 6, "minutes": 5})
    _spray(5)
    assert alerts_evaluate()["opened"] == 0


def test_metrics_export_the_reading_for_the_rules_window(superuser: User) -> None:
    rule_only("LoginFailureBurst", channels=[], params={"failures": 6, "minutes": 7})
    _spray(3)
    families = {f.name: f for f in text_string_to_metric_families(scrape_text(superuser))}
    samples = {(s.labels["minutes"], s.labels["door"]): s.value for s in families["opsconsole_login_failures_recent"].samples}
    assert samples == {("7", "admin"): 3.0, ("7", "api"): 0.0}
