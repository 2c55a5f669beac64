"""The soak's ledger on alerts: an account's re-authorization alert may stay open at the end only
while its cause is still there and recorded by the product (the account still needs
re-authorization, its last link failed, and Spotify told its app to wait past the run's end).
Anything less is a violation: an open alert with no cause left, or one whose link never failed."""

from __future__ import annotations

import time
import uuid
from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from accounts.models import AuthorizationRequest, SpotifyAccount, SpotifyApp
from alerts.models import Alert, AlertRule
from alerts.rules import alert_rules_setup
from bench.soak.faults import Fault
from bench.soak.ledger import Ledger
from spotify.ratelimit import bucket_block

pytestmark = pytest.mark.django_db


@pytest.fixture
def revoked(spotify_app: SpotifyApp) -> dict[str, Any]:
    """An account whose token was revoked mid-run, its alert open, and one failed re-authorization."""
    alert_rules_setup()
    now = time.time()
    account = SpotifyAccount.objects.create(
        app=spotify_app, display_name="Soak", spotify_user_id="soak-user", health="reauth_required"
    )
    AuthorizationRequest.objects.create(
        app=spotify_app,
        kind=AuthorizationRequest.Kind.REAUTHORIZE,
        account=account,
        state_hash=uuid.uuid4().hex,
        code_verifier="verifier",
        scopes="playlist-modify-private",
        redirect_uri="http://127.0.0.1/oauth/spotify/callback",
        created_by="api:soak-operator",
        expires_at=timezone.now() + timedelta(hours=1),
        status=AuthorizationRequest.Status.FAILED,
        status_reason="GET /v1/me failed: me: app rate limit bucket needs 7139.85s",
    )
    rule = AlertRule.objects.get(name="AccountReauthRequired")
    alert = Alert.objects.create(rule=rule, subject=str(account.pk), severity=rule.severity, summary="Re-authorization required")
    fault = Fault(kind="token_revoked", at=60, started=now - 200, ended=now - 100, details={"account": str(account.pk)})
    ledger = Ledger(
        run_started=now - 300,
        run_ended=now,
        faults=[fault],
        seed=1,
        emulator=None,
        catalog_tracks={},
        submitted=None,
        log_dir=None,
        secrets={},
        full_stops=[],
    )
    return {"account": account, "alert": alert, "fault": fault, "ledger": ledger, "app": spotify_app}


def _open_for_its_cause(revoked: dict[str, Any]) -> tuple[bool, dict[int, str]]:
    left_open: dict[int, str] = {}
    alert = Alert.objects.select_related("rule").get(pk=revoked["alert"].pk)
    return revoked["ledger"]._open_for_its_cause(alert, left_open), left_open


def test_left_open_while_spotify_makes_the_app_wait_past_the_run(revoked: dict[str, Any]) -> None:
    revoked["fault"].details["reauthorize_waits_for"] = {"app": revoked["app"].name, "blocked_until": "later"}
    bucket_block("app", str(revoked["app"].pk), 7200)
    ok, left_open = _open_for_its_cause(revoked)
    assert ok
    assert "blocked until" in left_open[revoked["alert"].pk]


def test_an_open_alert_whose_app_may_call_again_is_a_violation(revoked: dict[str, Any]) -> None:
    revoked["fault"].details["reauthorize_waits_for"] = {"app": revoked["app"].name, "blocked_until": "later"}
    assert _open_for_its_cause(revoked) == (False, {})


def test_an_open_alert_the_operator_never_waited_for_is_a_violation(revoked: dict[str, Any]) -> None:
    bucket_block("app", str(revoked["app"].pk), 7200)
    assert _open_for_its_cause(revoked) == (False, {})


def test_an_open_alert_of_an_account_that_is_back_is_a_violation(revoked: dict[str, Any]) -> None:
    revoked["fault"].details["reauthorize_waits_for"] = {"app": revoked["app"].name, "blocked_until": "later"}
    bucket_block("app", str(revoked["app"].pk), 7200)
    SpotifyAccount.objects.filter(pk=revoked["account"].pk).update(health="ok")
    assert _open_for_its_cause(revoked) == (False, {})


def test_a_fault_the_operator_could_not_carry_out_fails_the_run(revoked: dict[str, Any]) -> None:
    """An admin change that did not take (run 4) was reported as a fault done: now it fails the run."""
    ledger = revoked["ledger"]
    ledger.faults.append(Fault(kind="connector_toggle", at=90, details={"skipped": "nothing to switch"}))
    ledger.check_faults_injected()
    assert ledger.ok
    ledger.faults.append(Fault(kind="account_deactivate", at=120, error="DoorError: not reactivated"))
    ledger.checks.clear()
    ledger.check_faults_injected()
    assert not ledger.ok
    assert ledger.checks[0].rows == [{"fault": "account_deactivate", "at": 120, "error": "DoorError: not reactivated"}]
