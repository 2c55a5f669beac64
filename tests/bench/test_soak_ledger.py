"""The soak's ledger on alerts: an account's re-authorization alert may stay open at the end only
while its cause is still there and recorded by the product (the account still needs
re-authorization, its last link failed, and Spotify told its app to wait past the run's end).
Anything less is a violation: an open alert with no cause left, or one whose link never failed.
Each outage is matched to its own alert, however closely one connector's toggles follow each other,
and a retired playlist still in its owner's library is waiting only while its unfollow is a run
retrying on Spotify's Retry-After and the app is told to wait past the run's end."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.utils import timezone

from accounts.models import AuthorizationRequest, SpotifyAccount, SpotifyApp
from alerts.models import Alert, AlertEvent, AlertRule
from alerts.rules import alert_rules_setup
from bench.soak.faults import Fault
from bench.soak.ledger import Ledger
from jobs.models import JobRun
from playlists.models import Playlist, PlaylistPolicy
from spotify.ratelimit import bucket_block

pytestmark = pytest.mark.django_db


def _ledger(faults: list[Fault], *, now: float, run_seconds: float = 600) -> Ledger:
    return Ledger(
        run_started=now - run_seconds,
        run_ended=now,
        faults=faults,
        seed=1,
        emulator=None,
        catalog_tracks={},
        submitted=None,
        log_dir=None,
        secrets={},
        full_stops=[],
    )


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
    ledger = _ledger([fault], now=now, run_seconds=300)
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


def _connector_alert(opened: float, resolved: float) -> Alert:
    rule = AlertRule.objects.get(name="ConnectorDisabled")
    alert = Alert.objects.create(
        rule=rule,
        subject="spotify.albums",
        severity=rule.severity,
        summary="Connector spotify.albums is disabled",
        state=Alert.State.RESOLVED,
        opened_at=datetime.fromtimestamp(opened, tz=UTC),
        resolved_at=datetime.fromtimestamp(resolved, tz=UTC),
    )
    AlertEvent.objects.create(alert=alert, kind=AlertEvent.Kind.OPENED, at=alert.opened_at)
    return alert


def _toggle(*, drawn: float, switched_off: float, ended: float) -> Fault:
    return Fault(
        kind="connector_toggle",
        at=0,
        started=drawn,
        ended=ended,
        details={"connector": "spotify.albums"},
        expect_alerts=[{"rule": "ConnectorDisabled", "subject": "spotify.albums", "since": switched_off}],
    )


def _alerts_check(ledger: Ledger) -> Any:
    ledger.check_alerts()
    [check] = [c for c in ledger.checks if c.name.startswith("each injected outage")]
    return check


def test_two_toggles_of_one_connector_in_a_row_each_match_their_own_alert(db: None) -> None:
    """60-minute run 6: the second toggle, drawn while the first held the connector off, switched it
    off again as soon as the first had ended; its alert fell inside the first one's window."""
    alert_rules_setup()
    now = time.time()
    first = _toggle(drawn=now - 400, switched_off=now - 400, ended=now - 315)
    second = _toggle(drawn=now - 356, switched_off=now - 314, ended=now - 252)
    _connector_alert(opened=now - 385, resolved=now - 335)
    _connector_alert(opened=now - 300, resolved=now - 270)

    assert _alerts_check(_ledger([first, second], now=now)).rows == []


def test_a_second_alert_within_one_toggle_is_still_a_violation(db: None) -> None:
    alert_rules_setup()
    now = time.time()
    first = _toggle(drawn=now - 400, switched_off=now - 400, ended=now - 315)
    second = _toggle(drawn=now - 356, switched_off=now - 314, ended=now - 252)
    _connector_alert(opened=now - 385, resolved=now - 370)
    _connector_alert(opened=now - 360, resolved=now - 335)  # opened again during the first toggle
    _connector_alert(opened=now - 300, resolved=now - 270)

    rows = _alerts_check(_ledger([first, second], now=now)).rows
    assert [(r["fault"], r["problem"]) for r in rows] == [("connector_toggle@200s", "2 alerts opened")]


@pytest.fixture
def retired_on_spotify(spotify_app: SpotifyApp) -> dict[str, Any]:
    """A playlist retired here whose unfollow waits on Spotify's hours-long Retry-After."""
    now = time.time()
    account = SpotifyAccount.objects.create(app=spotify_app, display_name="Soak", spotify_user_id="soak-retire")
    policy, _ = PlaylistPolicy.objects.get_or_create(name="default")
    playlist = Playlist.objects.create(
        account=account,
        policy=policy,
        status=Playlist.Status.RETIRED,
        retired_at=timezone.now(),
        spotify_playlist_id="retired-but-followed",
    )
    run = JobRun.objects.create(
        job_name="playlists_unfollow_batch",
        task_name="playlists_unfollow_batch",
        task_id=str(uuid.uuid4()),
        trigger="chain",
        status="retrying",
        kwargs={"playlist_ids": [str(playlist.pk)], "actor": "api:soak-operator"},
        error="Retry in 3180.0s: SpotifyRateLimited('library_remove: app rate limit bucket needs 6259.96s')",
    )
    ledger = _ledger([], now=now)
    ledger.emulator_playlists = [{"id": "retired-but-followed", "followed": True, "uris": [], "name": "", "description": ""}]
    return {"ledger": ledger, "run": run, "app": spotify_app}


def _retires(ledger: Ledger) -> tuple[Any, Any]:
    ledger.check_retires()
    return ledger.checks[-1], ledger.tallies["retires"]


def test_a_retire_waiting_on_its_apps_retry_after_past_the_run_is_waiting_not_lost(retired_on_spotify: dict[str, Any]) -> None:
    bucket_block("app", str(retired_on_spotify["app"].pk), 7200)
    check, tally = _retires(retired_on_spotify["ledger"])
    assert check.rows == []
    assert (tally.lost, tally.reasons["waiting: its app rate limited past the run's end"]) == (0, 1)


def test_a_retire_still_followed_once_its_app_may_call_again_is_lost(retired_on_spotify: dict[str, Any]) -> None:
    check, tally = _retires(retired_on_spotify["ledger"])
    assert tally.lost == 1
    assert check.rows[0]["problem"] == "retired here, still in its owner's library"


def test_a_retire_whose_unfollow_no_run_waits_to_retry_is_lost(retired_on_spotify: dict[str, Any]) -> None:
    bucket_block("app", str(retired_on_spotify["app"].pk), 7200)
    JobRun.objects.filter(pk=retired_on_spotify["run"].pk).update(status="failed")
    _, tally = _retires(retired_on_spotify["ledger"])
    assert tally.lost == 1


def test_a_revocation_noticed_after_its_fault_is_its_alerts_cause_and_may_stay_open(revoked: dict[str, Any]) -> None:
    """60-minute run 7: the token was revoked while its app was told to wait for hours; the product
    noticed when the access token had to be refreshed, long after the fault, with no operator left."""
    ledger, alert = revoked["ledger"], revoked["alert"]
    ledger.run_started = ledger.run_ended - 3600
    ledger.faults[0].started, ledger.faults[0].ended = ledger.run_started + 1700, ledger.run_started + 1755
    Alert.objects.filter(pk=alert.pk).update(opened_at=timezone.now())
    AlertEvent.objects.create(alert=alert, kind=AlertEvent.Kind.OPENED)

    unexplained = [r for r in _alerts_check(ledger).rows if r.get("alert") == alert.pk]
    assert {r["problem"] for r in unexplained} == {"no injected fault explains it", "still open after the drain"}

    ledger.faults[0].details["not_noticed_while"] = {"app": revoked["app"].name, "blocked_until": "later"}
    ledger.checks.clear()
    assert _alerts_check(ledger).rows == []
    ok, left_open = _open_for_its_cause(revoked)
    assert ok and "noticed after its fault ended" in left_open[alert.pk]


def test_a_revocation_noticed_late_whose_account_is_back_must_resolve(revoked: dict[str, Any]) -> None:
    revoked["fault"].details["not_noticed_while"] = {"app": revoked["app"].name, "blocked_until": "later"}
    SpotifyAccount.objects.filter(pk=revoked["account"].pk).update(health="ok")
    assert _open_for_its_cause(revoked) == (False, {})
