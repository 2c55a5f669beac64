"""The incident timeline (metrics.timeline, GET /api/v1/timeline, the admin page), assembled from
what a drill really leaves behind: a breaker that opened and closed against the emulator, the
alert it raised, an operator's API calls, a failed job run, an account's health move and a worker's
boot."""

from __future__ import annotations

import csv
import io
import time
import uuid
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.urls import reverse
from django.utils import timezone

from accounts.models import AccountHealthChange, SpotifyAccount
from accounts.services import account_record_failure, account_record_success, account_refresh_token
from accounts.tasks import account_refresh_token_one
from alerts.evaluator import alerts_evaluate
from alerts.models import Alert
from audit.models import AuditEvent
from core.deploys import process_start_record
from core.models import ProcessStart
from devstack.emulator import SpotifyEmulator
from jobs.models import JobRun
from metrics.timeline import TIMELINE_MAX_WINDOW, incident_timeline
from spotify import SpotifyClient, SpotifyServerError
from spotify.breaker import breaker_state
from spotify.errors import SpotifyInvalidGrant
from tests.factories import SpotifyAccountFactory
from tests.fixtures_alerts import rule_only
from tests.fixtures_clients import client_for, token_client
from tests.fixtures_spotify import RecordingProvider


@pytest.fixture
def fast_breaker(settings: Any) -> None:
    settings.BREAKER_FAILURE_THRESHOLD = 2
    settings.BREAKER_BASE_COOLDOWN_SECONDS = 0.3
    settings.BREAKER_MAX_COOLDOWN_SECONDS = 1.0
    settings.SPOTIFY_MAX_ATTEMPTS = 1


def _wait_for(predicate: Callable[[], bool], what: str) -> None:
    # Waiting on a cooldown or a boot, not measuring it: the asserts are on events.
    for _ in range(500):
        if predicate():
            return
        time.sleep(0.02)
    raise AssertionError(f"never: {what}")


@pytest.mark.slow
def test_a_drill_reads_back_as_one_timeline_in_order(
    spotify_emulator: SpotifyEmulator,
    make_account: Callable[..., SpotifyAccount],
    start_celery_worker: Callable[..., Any],
    fast_breaker: None,
    operator: User,
    viewer: User,
) -> None:
    since = timezone.now() - timedelta(seconds=1)
    # A worker boots: its deploy marker (the first start of a worker is a deploy).
    start_celery_worker()
    _wait_for(lambda: ProcessStart.objects.filter(kind="worker").exists(), "the worker recorded its start")

    # Spotify fails the album endpoint: the circuit opens and the CircuitBreakerOpen alert with it.
    client = SpotifyClient(app_key="a1", token_provider=RecordingProvider(client_id="a1"))
    album_id = spotify_emulator.catalog.album_ids()[0]
    spotify_emulator.fault("album", status=500)
    for _ in range(2):
        with pytest.raises(SpotifyServerError):
            client.album(album_id)
    assert breaker_state("spotify.albums")["state"] == "open"
    rule_only("CircuitBreakerOpen", channels=[], params={"minutes": 0})
    assert alerts_evaluate()["opened"] == 1
    alert = Alert.objects.get(subject="spotify.albums")

    # The on-call acknowledges it and changes the connector's timeout and cooldown, through the API
    # (the row was seeded from this test's sub-second breaker settings: both are set).
    api = token_client(operator)
    assert api.post(f"/api/v1/alerts/{alert.pk}/acknowledge").status_code == 200
    patched = api.patch(
        "/api/v1/connectors/spotify.albums",
        {"timeout_seconds": 4, "cooldown_seconds": 5, "note": "incident"},
        content_type="application/json",
    )
    assert patched.status_code == 200, patched.content

    # A job fails, and an account's refresh token is revoked: it needs re-authorization.
    failed = account_refresh_token_one.apply(args=[str(uuid.uuid4())])
    account = make_account("alice")
    spotify_emulator.revoke(account.refresh_token)
    with pytest.raises(SpotifyInvalidGrant):
        account_refresh_token(account=account, force=True)

    # Spotify is back: the probe after the cooldown closes the circuit.
    _wait_for(lambda: breaker_state("spotify.albums")["state"] == "half_open", "the circuit half-opened")
    spotify_emulator.clear_faults()
    assert client.album(album_id)["id"] == album_id

    response = token_client(viewer, scope="read").get("/api/v1/timeline", {"since": since.isoformat()})
    assert response.status_code == 200, response.content
    events = response.json()["events"]
    assert response.json()["truncated"] == []
    stamps = [event["at"] for event in events]
    assert stamps == sorted(stamps)

    def first(kind: str, **fields: str) -> int:
        matches = [n for n, e in enumerate(events) if e["kind"] == kind and all(e[k] == v for k, v in fields.items())]
        assert matches, (kind, fields, [(e["kind"], e["subject"]) for e in events])
        return matches[0]

    order = [
        first("deploy"),
        first("breaker_opened", subject="spotify.albums", actor=""),
        first("alert_opened", subject=alert.subject_label or "spotify.albums", actor=""),
        first("alert_acknowledged", actor="api:olive"),
        first("connector_change", subject="spotify.albums", actor="api:olive"),
        first("job_failed", subject="account_refresh_token_one"),
        first("account_health", subject="Alice", actor=""),
        first("breaker_closed", subject="spotify.albums", actor=""),
    ]
    assert order == sorted(order)
    # One line per fact: the acknowledgement's audit row is the alert's own event.
    assert sum(e["kind"] == "alert_acknowledged" for e in events) == 1
    assert not [e for e in events if "alert.acknowledge" in e["summary"]]
    run = JobRun.objects.get(task_id=failed.id)
    assert events[first("job_failed")]["link"].endswith(reverse("admin:jobs_jobrun_change", args=[run.pk]))
    assert "reauth_required" in events[first("account_health")]["summary"]

    # Filtered to the account: its health move stays, the other subjects' events go, the
    # fleet-wide context (breakers, connector change, deploy) stays.
    kinds = {
        e["kind"]
        for e in token_client(viewer, scope="read")
        .get("/api/v1/timeline", {"since": since.isoformat(), "account": str(account.pk)})
        .json()["events"]
    }
    assert {"account_health", "breaker_opened", "breaker_closed", "connector_change", "deploy"} <= kinds
    assert not kinds & {"alert_opened", "alert_acknowledged", "job_failed"}


def test_the_csv_export_parses_and_matches_the_json(operator: User, superuser: User, db: None) -> None:
    account = SpotifyAccountFactory()
    account_record_failure(account=account, error="HTTP 401", auth=True)
    process_start_record(kind="web")
    api = client_for(superuser)
    query = {"since": (timezone.now() - timedelta(hours=1)).isoformat()}
    as_json = api.get("/api/v1/timeline", {**query, "format": "json"})
    assert as_json.status_code == 200
    assert as_json["Content-Disposition"].startswith('attachment; filename="timeline-')
    as_csv = api.get("/api/v1/timeline", {**query, "format": "csv"})
    assert as_csv.status_code == 200 and as_csv["Content-Type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(as_csv.content.decode())))
    assert [(r["kind"], r["subject"], r["summary"], r["actor"]) for r in rows] == [
        (e["kind"], e["subject"], e["summary"], e["actor"]) for e in as_json.json()["events"]
    ]
    assert [r["kind"] for r in rows] == ["account_health", "deploy"]
    assert rows[1]["link"].startswith("http://testserver/admin/")


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"since": "2026-01-01T00:00:00Z", "until": "2026-01-09T00:00:00Z"}, "since"),
        ({"since": "2026-01-02T00:00:00Z", "until": "2026-01-01T00:00:00Z"}, "until"),
        ({"since": "2026-01-01T00:00:00Z", "until": "2026-01-01T00:00:00Z"}, "until"),
        ({"since": "yesterday"}, "since"),
        ({"account": "not-a-uuid"}, "account"),
        ({"until": "0001-01-01T00:00:00Z"}, "until"),
    ],
)
def test_a_bad_window_is_a_400_naming_the_field(viewer: User, query: dict[str, str], field: str) -> None:
    response = token_client(viewer, scope="read").get("/api/v1/timeline", query)
    assert response.status_code == 400, response.content
    assert field in response.json()["errors"]


def test_the_widest_window_passes_and_unknown_parameters_are_ignored_as_on_every_list(viewer: User) -> None:
    until = timezone.now()
    response = token_client(viewer, scope="read").get(
        "/api/v1/timeline", {"since": (until - TIMELINE_MAX_WINDOW).isoformat(), "until": until.isoformat(), "colour": "red"}
    )
    assert response.status_code == 200, response.content


def _events_of_every_source(n: int) -> None:
    now = timezone.now()
    rule = rule_only("AccountQuarantined", channels=[])
    for _ in range(n):
        account = SpotifyAccountFactory()
        account_record_failure(account=account, error="HTTP 401", auth=True)
        account_record_success(account=account)
        process_start_record(kind="worker")
        JobRun.objects.create(
            job_name="refresh_tokens",
            task_name="refresh_tokens",
            task_id=str(uuid.uuid4()),
            status="failed",
            started_at=now - timedelta(minutes=5),
            finished_at=now - timedelta(minutes=4),
            duration_ms=60_000,
            error="boom",
        )
        AuditEvent.objects.create(actor="api:olive", door="api", action="queue.pause", target_id="default")
        alert = Alert.objects.create(rule=rule, subject=str(account.pk), severity="warning")
        alert.events.create(kind="opened")


def test_the_selector_asks_the_same_number_of_queries_whatever_the_number_of_events(
    db: None, django_assert_max_num_queries: Any
) -> None:
    since, until = timezone.now() - timedelta(hours=1), timezone.now() + timedelta(minutes=1)
    _events_of_every_source(1)
    with django_assert_max_num_queries(7) as few:
        small = incident_timeline(since=since, until=until)
    _events_of_every_source(20)
    with django_assert_max_num_queries(len(few.captured_queries)):
        big = incident_timeline(since=since, until=until)
    assert len(big["events"]) > len(small["events"]) == 5  # one of each source
    assert big["truncated"] == []
    cut = incident_timeline(since=since, until=until, limit=5)
    assert set(cut["truncated"]) == {"alerts", "audit", "job_runs", "account_health", "deploys"}
    # One move per account: a success does not lift reauth_required (only a new authorization does).
    assert AccountHealthChange.objects.count() == 21


def test_the_admin_page_lists_events_and_links_the_downloads_and_alerts_link_to_it(superuser: User, db: None) -> None:
    rule = rule_only("AccountQuarantined", channels=[])
    account = SpotifyAccountFactory(display_name="Bob")
    for _ in range(10):
        account_record_failure(account=account, error="HTTP 503")
    alerts_evaluate()
    alert = Alert.objects.get(rule=rule)
    admin = client_for(superuser)

    page = admin.get(reverse("admin:alerts_alert_change", args=[alert.pk])).content.decode()
    assert 'id="alert-timeline"' in page and "the 30 minutes before it opened" in page
    link = page.split('id="alert-timeline" href="')[1].split('"')[0].replace("&amp;", "&")
    timeline = admin.get(link)
    assert timeline.status_code == 200
    html = timeline.content.decode()
    assert 'data-kind="account_health"' in html and 'data-kind="alert_opened"' in html
    assert "ok → degraded" in html and "degraded → quarantined" in html
    assert 'id="timeline-csv"' in html and "format=csv" in html and f"account={account.pk}" in html

    home = admin.get(reverse("admin:index")).content.decode()
    assert reverse("admin:metrics_timeline") in home

    refused = admin.get(reverse("admin:metrics_timeline"), {"since": "2026-01-02T00:00", "until": "2026-01-01T00:00"})
    assert refused.status_code == 400
    assert any("until" in str(m) for m in refused.context["messages"])
