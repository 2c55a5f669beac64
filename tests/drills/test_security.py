"""Security checks of issue 6 that tests/opsconsole and tests/metrics did not already cover.

(Already covered there: `check --deploy` under production settings, the API permission
matrix by role, schemathesis, X-Forwarded-For spoofing of the /health allowlist.)
"""

from __future__ import annotations

import io
import json
import logging
import sys
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from django.conf import settings as django_settings
from django.contrib import admin
from django.contrib.auth.models import User
from django.core.management import call_command
from django.test import Client, RequestFactory
from django.views.debug import ExceptionReporter, get_default_exception_reporter_filter

from accounts.models import SpotifyAccount, SpotifyApp
from accounts.services import account_refresh_token, accounts_refresh_tokens, spotify_client_for_account
from core.logging import ContextFilter, JsonFormatter
from core.models import ApiToken
from ingest.models import DeadLetter
from ingest.services import dead_letter_record
from playlists import services as playlist_services
from spotify import SpotifyError, SpotifyInvalidGrant
from tests.factories import make_catalog
from tests.fixtures_api import api_v1_paths

pytestmark = pytest.mark.django_db


def _client(user: User | None, **headers: str) -> Client:
    client = Client(raise_request_exception=False, **headers)
    if user is not None:
        client.force_login(user)
    return client


# --- oversize request bodies ----------------------------------------------------------------


def test_an_oversize_body_is_a_413_json_answer_on_every_api_write(operator: User, settings: Any) -> None:
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 2048
    body = json.dumps({"urls": ["spotify:album:4aawyAB9vmqN3uQ7FjRGTy"] * 200, "batch_size": 1})
    refused = []
    client = _client(operator)
    for path in api_v1_paths():
        for method in ("post", "put", "patch"):
            response = getattr(client, method)(path, body, content_type="application/json")
            # Endpoints that never read a body (reset-all) may answer; nothing answers 5xx or HTML.
            assert response.status_code < 500, f"{method.upper()} {path} -> {response.status_code}"
            assert response["Content-Type"].startswith("application/json"), f"{method.upper()} {path}: {response.content[:80]!r}"
            if response.status_code == 413:
                assert "DATA_UPLOAD_MAX_MEMORY_SIZE" in response.json()["detail"]
                refused.append(f"{method} {path}")
    assert len(refused) >= 5, refused  # every write endpoint reads its body; GET-only ones answer 405


def test_a_body_within_the_limit_still_works(operator: User, settings: Any) -> None:
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 2048
    response = _client(operator).post(
        "/api/v1/ingest/albums", {"urls": ["spotify:album:4aawyAB9vmqN3uQ7FjRGTy"]}, content_type="application/json"
    )
    assert response.status_code in (200, 201, 202), response.content


# --- admin actions by role --------------------------------------------------------------------


def _actions_for(user: User) -> dict[str, set[str]]:
    request = RequestFactory().get("/admin/")
    request.user = user
    return {
        f"{model._meta.app_label}.{model._meta.model_name}": set(model_admin.get_actions(request))
        for model, model_admin in admin.site._registry.items()
    }


def _read_only_actions() -> dict[str, set[str]]:
    """Actions that only read (declared with the view permission alone, e.g. a CSV export)."""
    return {
        f"{model._meta.app_label}.{model._meta.model_name}": {
            name for func, name, _ in model_admin._get_base_actions() if tuple(getattr(func, "allowed_permissions", ())) == ("view",)
        }
        for model, model_admin in admin.site._registry.items()
    }


def _declared_actions() -> dict[str, set[str]]:
    return {
        f"{model._meta.app_label}.{model._meta.model_name}": {name for _, name, _ in model_admin._get_base_actions()}
        for model, model_admin in admin.site._registry.items()
    }


# Staff access itself: API tokens, like users and groups, are superusers' only.
SUPERUSERS_ONLY = {"opsconsole.apitoken"}
# Staff accounts are administrators' business: operators have no rights on users at all.
SUPERUSER_ONLY_ACTIONS = {"auth.user": {"reset_two_factor"}}


def test_every_admin_action_is_refused_to_viewers_and_offered_to_operators_and_superusers(
    viewer: User, operator: User, superuser: User
) -> None:
    declared = _declared_actions()
    assert sum(len(names - {"delete_selected"}) for names in declared.values()) >= 15, declared
    as_viewer, as_operator, as_superuser = _actions_for(viewer), _actions_for(operator), _actions_for(superuser)
    read_only = _read_only_actions()
    for model, names in declared.items():
        assert as_viewer[model] == read_only[model], f"a viewer may run {as_viewer[model] - read_only[model]} on {model}"
        custom = names - {"delete_selected"}
        if model in SUPERUSERS_ONLY:
            assert not as_operator[model], f"operators may run {as_operator[model]} on {model}"
        else:
            for_operators = custom - SUPERUSER_ONLY_ACTIONS.get(model, set())
            assert for_operators <= as_operator[model], f"operators miss {for_operators - as_operator[model]} on {model}"
        assert custom <= as_superuser[model], f"superusers miss {custom - as_superuser[model]} on {model}"
    # Deleting stays a superuser thing where history matters.
    for model in ("accounts.spotifyaccount", "playlists.playlist", "metrics.jobrun"):
        assert "delete_selected" not in as_operator.get(model, set())


def test_a_viewer_posting_an_admin_action_changes_nothing_and_an_operator_runs_it(viewer: User, operator: User) -> None:
    letter = dead_letter_record(
        source_service="spotify.albums",
        operation="ingest_album",
        error_type="server_error",
        error_message="boom",
        payload={"album_source_id": 0},
    )
    form = {"action": "purge", "_selected_action": [str(letter.pk)], "confirmed": "yes"}
    _client(viewer).post("/admin/ingest/deadletter/", form)
    assert DeadLetter.objects.get(pk=letter.pk).status == "pending"
    _client(operator).post("/admin/ingest/deadletter/", form)
    assert DeadLetter.objects.get(pk=letter.pk).status == "purged"


# --- secrets ------------------------------------------------------------------------------------


@pytest.fixture
def debug_log() -> Iterator[io.StringIO]:
    """Every log line as production writes it (JSON formatter), at DEBUG."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    handler.addFilter(ContextFilter())
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        yield stream
    finally:
        root.removeHandler(handler)
        root.setLevel(level)


@pytest.fixture
def secret_app(db: None) -> SpotifyApp:
    return SpotifyApp.objects.create(
        name="secret-app",
        client_id="secret-app-client",
        client_secret="cs-drill-7f3a9c1e5b",
        mode=SpotifyApp.Mode.EXTENDED,
        user_cap=5,
    )


def _secrets(account: SpotifyAccount, *extra: str) -> list[str]:
    account.refresh_from_db()
    values = [
        account.access_token,
        account.refresh_token,
        account.app.client_secret,
        django_settings.SECRET_KEY,
        *django_settings.TOKEN_ENCRYPTION_KEYS,
        *extra,
    ]
    assert all(len(v) >= 10 for v in values)
    return values


def test_tokens_and_secrets_never_reach_debug_logs_admin_pages_or_api_answers(
    spotify_emulator: Any,
    make_account: Callable[..., SpotifyAccount],
    secret_app: SpotifyApp,
    superuser: User,
    debug_log: io.StringIO,
) -> None:
    make_catalog(artists=30, tracks_per_artist=2)
    account = make_account("secret-user", app=secret_app)
    first_refresh_token = account.refresh_token
    [result] = accounts_refresh_tokens(accounts=[account], force=True)
    assert result.ok
    [playlist] = playlist_services.playlists_create(account=account, count=1, actor="drill", queue_sync=False)
    playlist_services.playlist_sync(playlist=playlist, actor="drill")
    spotify_emulator.fault("me", status=500)
    with pytest.raises(SpotifyError):
        spotify_client_for_account(SpotifyAccount.objects.get(pk=account.pk)).current_user()
    # Minted by the command (audited, logged): the key goes to its stdout and nowhere else.
    minted = io.StringIO()
    call_command("create_api_token", superuser.get_username(), stdout=minted, stderr=io.StringIO())
    api_token = minted.getvalue().strip()
    token = ApiToken.objects.get(digest=ApiToken.digest_of(api_token))
    secrets = _secrets(account, first_refresh_token, api_token, token.digest)

    logged = debug_log.getvalue()
    assert "spotify" in logged and len(logged.splitlines()) > 10, "the drill produced log lines to search"
    pages = {
        path: _client(superuser).get(path)
        for path in (
            "/admin/accounts/spotifyaccount/",
            f"/admin/accounts/spotifyaccount/{account.pk}/change/",
            f"/admin/accounts/spotifyapp/{secret_app.pk}/change/",
            f"/admin/playlists/playlist/{playlist.pk}/change/",
            "/admin/opsconsole/apitoken/",
            f"/admin/opsconsole/apitoken/{token.pk}/change/",
        )
    }
    assert all(page.status_code == 200 for page in pages.values()), {p: r.status_code for p, r in pages.items()}
    answers = {path: _client(None, HTTP_AUTHORIZATION=f"Token {api_token}").get(path) for path in api_v1_paths()}
    assert sum(r.status_code == 200 for r in answers.values()) >= 10
    for secret in secrets:
        assert secret not in logged, "a secret reached a log line"
        for path, page in pages.items():
            assert secret not in page.content.decode(), f"a secret is on {path}"
        for path, answer in answers.items():
            assert secret not in answer.content.decode(), f"a secret is in the answer of {path}"


def test_error_reports_hide_settings_headers_url_passwords_and_token_locals(
    spotify_emulator: Any,
    make_account: Callable[..., SpotifyAccount],
    secret_app: SpotifyApp,
    settings: Any,
) -> None:
    # Built at run time: the report quotes source lines around each frame, this test's included.
    broker_password, api_token = "broker-pw-" + "31415926", "api-token-" + "2718281828"
    settings.CELERY_BROKER_URL = f"redis://:{broker_password}@redis.internal:6379/0"
    account = make_account("report-user", app=secret_app)
    refresh_token = account.refresh_token
    spotify_emulator.revoke(refresh_token)
    request = RequestFactory().get("/api/v1/accounts/list", HTTP_AUTHORIZATION=f"Token {api_token}")
    try:
        account_refresh_token(account=account, force=True)
    except SpotifyInvalidGrant:
        reporter = ExceptionReporter(request, *sys.exc_info())
    report = reporter.get_traceback_text() + reporter.get_traceback_html()

    assert "account_refresh_token" in report and "request_token_refresh" in report, "frames with their locals"
    safe = get_default_exception_reporter_filter().get_safe_settings()
    assert safe["TOKEN_ENCRYPTION_KEYS"] == safe["SECRET_KEY"] == "********************"
    for secret in (
        refresh_token,
        secret_app.client_secret,
        api_token,
        broker_password,
        django_settings.SECRET_KEY,
        *django_settings.TOKEN_ENCRYPTION_KEYS,
    ):
        assert secret not in report
    assert "redis.internal:6379" in report, "the URL stays readable, only its password is hidden"


def test_an_account_repr_and_str_show_no_token(spotify_emulator: Any, make_account: Callable[..., SpotifyAccount]) -> None:
    account = make_account("repr-user")
    account_refresh_token(account=account, force=True)
    account.refresh_from_db()
    for text in (repr(account), str(account)):
        assert account.refresh_token not in text and account.access_token not in text


# --- health telemetry and X-Forwarded-For -----------------------------------------------------


@pytest.mark.parametrize("path", ["/api/health", "/health", "/metrics"])
def test_a_spoofed_forwarded_for_gets_no_telemetry_without_a_trusted_proxy(path: str, settings: Any) -> None:
    settings.HEALTH_ALLOWLIST = ["10.9.8.7"]
    settings.TRUSTED_PROXIES = []
    spoofed = Client(REMOTE_ADDR="198.51.100.9", HTTP_X_FORWARDED_FOR="10.9.8.7", HTTP_X_REAL_IP="10.9.8.7").get(path)
    if path == "/metrics":
        assert spoofed.status_code == 403 and b"opsconsole" not in spoofed.content
    else:
        assert set(spoofed.json()) == {"status"}
    allowed = Client(REMOTE_ADDR="10.9.8.7").get(path)
    assert allowed.status_code in (200, 503)
    assert path == "/metrics" or {"checks", "ingestion"} <= set(allowed.json())


# --- API writes by role ---------------------------------------------------------------------------


ADMIN_ROLE_ONLY = {"/api/v1/kill-switch"}


def test_every_api_write_is_open_to_operators_and_superusers_and_closed_to_viewers_and_plain_staff(
    viewer: User, operator: User, superuser: User, settings: Any
) -> None:
    settings.QUEUES_INSPECT_TIMEOUT_SECONDS = 0.2  # no worker here
    plain = User.objects.create_user("plain", "plain@example.com", "pw-plain-123!", is_staff=True)
    clients = {
        role: _client(user)
        for role, user in (("viewer", viewer), ("plain", plain), ("operator", operator), ("superuser", superuser))
    }
    writes = 0
    for path in api_v1_paths():
        for method in ("post", "delete"):
            # An empty body: the operator's call fails validation (400) or does nothing harmful.
            answers = {
                role: getattr(client, method)(path, {}, content_type="application/json").status_code
                for role, client in clients.items()
            }
            if answers["operator"] == 405:
                continue
            writes += 1
            assert answers["viewer"] == answers["plain"] == 403, f"{method.upper()} {path}: {answers}"
            # The kill switch is the admin role's alone (docs/runbooks/kill-switch.md).
            operator_refused = path in ADMIN_ROLE_ONLY
            assert (answers["operator"] in (401, 403)) == operator_refused and answers["superuser"] not in (401, 403), (
                f"{method.upper()} {path}: {answers}"
            )
            assert max(answers.values()) < 500, f"{method.upper()} {path}: {answers}"
    assert writes >= 8
