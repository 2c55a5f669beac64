"""One evaluation pass costs the same queries however many alerts stay open (BENCHMARKS.md, "The
fleet ×10": 914 queries a pass with 606 open alerts, one UPDATE per alert and one account SELECT
per account alert)."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from accounts.models import SpotifyAccount
from alerts.evaluator import alerts_evaluate
from alerts.models import Alert, AlertRule
from tests.factories import SpotifyAccountFactory

pytestmark = pytest.mark.django_db

# They read this machine (memory, disk, connections), which other processes share: one could
# cross its threshold between two passes and add an alert that has nothing to do with the count.
HOST_RULES = ["MemoryUsageHigh", "DiskSpaceHigh", "DatabaseConnectionPoolHigh"]


def _accounts(count: int, now: datetime) -> None:
    """`count` accounts of each kind an account rule alerts on."""
    SpotifyAccountFactory.create_batch(count, health=SpotifyAccount.Health.REAUTH_REQUIRED, health_reason="token revoked")
    SpotifyAccountFactory.create_batch(count, health=SpotifyAccount.Health.QUARANTINED, health_reason="10 failures")
    SpotifyAccountFactory.create_batch(count, authorized_at=now - timedelta(days=180))


def _steady_pass(now: datetime) -> int:
    """Queries of a pass that opens nothing new (the previous pass at the same time opened it all)."""
    alerts_evaluate(now=now)
    with CaptureQueriesContext(connection) as queries:
        counts = alerts_evaluate(now=now)
    assert counts["errors"] == 0 and counts["opened"] == 0
    return len(queries.captured_queries)


def test_a_pass_costs_the_same_queries_with_five_times_the_open_alerts_and_accounts(alert_rules: list[AlertRule]) -> None:
    AlertRule.objects.filter(name__in=HOST_RULES).update(enabled=False)
    AlertRule.objects.update(pending_for=timedelta(0))
    now = timezone.now()
    with time_machine.travel(now, tick=False):
        _accounts(4, now)
        few = _steady_pass(now)
        open_few = Alert.objects.opened().count()
        _accounts(16, now)
        many = _steady_pass(now)
        open_many = Alert.objects.opened().count()

        assert open_few >= 12 and open_many - open_few == 48
        assert many == few

        # Every open alert of the two health rules reworded at once: one statement per rule.
        SpotifyAccount.objects.exclude(health=SpotifyAccount.Health.OK).update(health_reason="seen again")
        with CaptureQueriesContext(connection) as queries:
            alerts_evaluate(now=now)
        assert len(queries.captured_queries) == many + 2
    reworded = Alert.objects.opened().filter(rule__kind__in=["account_reauth_required", "account_quarantined"])
    assert reworded.count() == 40
    assert all(alert.summary.endswith("seen again") and alert.last_seen_at == now for alert in reworded)
