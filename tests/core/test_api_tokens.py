"""API tokens: only a digest at rest, a scope enforced on writes, expiry and revocation answered
401 with the reason, last use kept to the minute, the old DRF keys carried over by migration,
the command's options and the admin's list (docs/runbooks/api-tokens-access.md)."""

from __future__ import annotations

import importlib
from datetime import timedelta
from io import StringIO

import pytest
import time_machine
from django.apps import apps
from django.contrib.auth.models import User
from django.core.management import CommandError, call_command
from django.db import connection
from django.test import Client
from django.utils import timezone

from audit.models import AuditEvent
from core.authentication import token_cache
from core.models import ApiToken
from core.permissions import READ_SCOPE_REFUSAL
from tests.fixtures_api import api_v1_paths
from tests.fixtures_clients import api_key_for, client_for

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("short_probe_timeouts")]

PATH = "/api/v1/job-runs"


@pytest.fixture(autouse=True)
def cache_on(settings) -> None:  # type: ignore[no-untyped-def]
    settings.API_TOKEN_CACHE_SECONDS = 60
    token_cache.forget_all()


def _mint(*args: str) -> tuple[str, str]:
    """(stdout, stderr) of `create_api_token`."""
    out, err = StringIO(), StringIO()
    call_command("create_api_token", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def _text_of_tables(*tables: str) -> str:
    with connection.cursor() as cursor:
        rows = []
        for table in tables:
            cursor.execute(f"SELECT * FROM {connection.ops.quote_name(table)}")  # noqa: S608
            rows.extend(cursor.fetchall())
    return repr(rows)


def test_the_database_holds_a_digest_of_the_key_never_the_key(operator: User) -> None:
    key = _mint("olive")[0].strip()
    assert Client(HTTP_AUTHORIZATION=f"Token {key}").get(PATH).status_code == 200
    stored = _text_of_tables("opsconsole_apitoken", "audit_auditevent")
    assert key not in stored and key[ApiToken.VISIBLE_CHARS :] not in stored
    token = ApiToken.objects.get()
    assert token.digest == ApiToken.digest_of(key) and len(token.digest) == 64
    assert "authtoken_token" not in connection.introspection.table_names()


def test_a_read_token_is_refused_on_every_write_under_the_api_even_for_an_operator(operator: User) -> None:
    client = Client(HTTP_AUTHORIZATION=f"Bearer {api_key_for(operator, scope='read')}")
    assert client.get(PATH).status_code == 200
    refused = client.post("/api/v1/jobs/update", {"name": "retention", "run_now": True}, content_type="application/json")
    assert refused.status_code == 403 and refused.json() == {"detail": READ_SCOPE_REFUSAL, "errors": {}}

    answers = {}
    for path in [*api_v1_paths(), "/api/ops/queues", "/api/health", "/api/schema/"]:
        for method in ("post", "put", "patch", "delete"):
            response = getattr(client, method)(path, {}, content_type="application/json")
            answers[(method, path)] = response.status_code
            assert response.status_code in (403, 404, 405), (method, path, response.status_code)
            if response.status_code == 403 and response["Content-Type"].startswith("application/json"):
                assert response.json()["detail"] == READ_SCOPE_REFUSAL
    assert sum(status == 403 for status in answers.values()) >= 10
    # Nothing was done; the kill switch puts a refused attempt on the record (jobs.control).
    assert not AuditEvent.objects.exclude(outcome=AuditEvent.Outcome.REFUSED).exists(), "nothing was done"
    assert set(AuditEvent.objects.values_list("action", flat=True)) <= {"kill_switch.engage", "kill_switch.resume"}


def test_an_operate_token_does_what_the_users_groups_allow(operator: User, viewer: User) -> None:
    operating = Client(HTTP_AUTHORIZATION=f"Token {api_key_for(operator, scope='operate')}")
    # Operators act (a 400 for the unknown job is past the permission check).
    assert (
        operating.post("/api/v1/jobs/update", {"name": "nope", "enabled": True}, content_type="application/json").status_code
        == 400
    )
    viewer_operate = Client(HTTP_AUTHORIZATION=f"Token {api_key_for(viewer, scope='operate')}")
    refused = viewer_operate.post("/api/v1/jobs/update", {"name": "retention", "enabled": False}, content_type="application/json")
    assert refused.status_code == 403 and "operators" in refused.json()["detail"]


def test_an_expired_token_answers_401_with_the_reason_and_is_not_counted_as_a_guess(viewer: User) -> None:
    with time_machine.travel("2026-06-01 12:00:00", tick=False) as traveller:
        key = api_key_for(viewer, expires_at=timezone.now() + timedelta(hours=1))
        client = Client(HTTP_AUTHORIZATION=f"Token {key}", REMOTE_ADDR="198.51.100.40")
        assert client.get(PATH).status_code == 200
        assert client.get(PATH).status_code == 200  # cached
        traveller.shift(timedelta(hours=1, seconds=1))
        answers = [client.get(PATH) for _ in range(7)]
    assert {a.status_code for a in answers} == {401}, "a once-valid key is no guess: no lockout"
    assert "expired at 2026-06-01 13:00 UTC" in answers[0].json()["detail"]
    assert answers[0]["WWW-Authenticate"] == "Token"


def test_last_use_is_written_at_most_once_a_minute(viewer: User) -> None:
    with time_machine.travel("2026-06-01 12:00:00", tick=False) as traveller:
        client = Client(HTTP_AUTHORIZATION=f"Token {api_key_for(viewer)}")
        token = ApiToken.objects.get()
        assert token.last_used_at is None
        client.get(PATH)
        first = timezone.now()
        traveller.shift(30)
        client.get(PATH)
        token.refresh_from_db()
        assert token.last_used_at == first
        traveller.shift(31)
        client.get(PATH)
        token.refresh_from_db()
        assert token.last_used_at == first + timedelta(seconds=61)


def test_the_migration_rehashes_an_old_drf_key_so_automation_keeps_it(superuser: User) -> None:
    migration = importlib.import_module("core.migrations.0004_apitoken_from_authtoken")
    old_key = "9944b09199c62bcf9418ad846dd0e4bbdfc6ee4b"
    with connection.cursor() as cursor:
        cursor.execute(
            "CREATE TABLE authtoken_token (key varchar(40) PRIMARY KEY, created timestamptz NOT NULL, "
            "user_id integer NOT NULL UNIQUE REFERENCES auth_user (id))"
        )
        cursor.execute("INSERT INTO authtoken_token VALUES (%s, now() - interval '1 year', %s)", [old_key, superuser.pk])
        cursor.execute("INSERT INTO django_migrations (app, name, applied) VALUES ('authtoken', '0001_initial', now())")
    with connection.schema_editor() as editor:
        migration.hash_legacy_tokens(apps, editor)

    assert "authtoken_token" not in connection.introspection.table_names()
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM django_migrations WHERE app = 'authtoken'")
        assert cursor.fetchone()[0] == 0
    token = ApiToken.objects.get()
    assert (token.user, token.scope, token.expires_at, token.prefix) == (superuser, "operate", None, old_key[:8])
    assert token.name == migration.MIGRATED_NAME and token.created_at < timezone.now() - timedelta(days=300)
    assert old_key not in _text_of_tables("opsconsole_apitoken")
    assert Client(HTTP_AUTHORIZATION=f"Token {old_key}").get(PATH).status_code == 200
    # Run again (a database without the old table): nothing happens.
    with connection.schema_editor() as editor:
        migration.hash_legacy_tokens(apps, editor)
    assert ApiToken.objects.count() == 1


def test_the_command_scope_defaults_to_the_highest_the_role_allows_and_never_above(operator: User, viewer: User) -> None:
    _mint("olive")
    _mint("victor")
    assert ApiToken.objects.get(user=operator).scope == "operate"
    assert ApiToken.objects.get(user=viewer).scope == "read"
    _mint("olive", "--scope", "read", "--name", "dashboards")
    assert ApiToken.objects.get(user=operator, name="dashboards").scope == "read"
    with pytest.raises(CommandError, match="may not operate"):
        _mint("victor", "--scope", "operate")
    with pytest.raises(CommandError):
        _mint("victor", "--scope", "admin")


def test_the_command_expiry_default_days_and_never(settings, viewer: User) -> None:  # type: ignore[no-untyped-def]
    settings.API_TOKEN_DEFAULT_DAYS = 30
    with time_machine.travel("2026-06-01 12:00:00", tick=False):
        _mint("victor", "--name", "default")
        _mint("victor", "--name", "week", "--expires", "7")
        out, err = _mint("victor", "--name", "forever", "--expires", "never")
        expiry = {t.name: t.expires_at for t in ApiToken.objects.all()}
        now = timezone.now()
    assert expiry == {"default": now + timedelta(days=30), "week": now + timedelta(days=7), "forever": None}
    assert out.strip() not in err and "expires never" in err and "shown this once" in err
    for bad in ("0", "-3", "soon"):
        with pytest.raises(CommandError, match="positive number of days"):
            _mint("victor", "--expires", bad)


def test_the_command_rotates_and_revokes_by_name_and_audits_without_the_key(operator: User) -> None:
    ci = _mint("olive", "--name", "ci")[0].strip()
    cron = _mint("olive", "--name", "cron")[0].strip()
    rotated = _mint("olive", "--name", "ci", "--rotate")[0].strip()
    assert ApiToken.objects.get(digest=ApiToken.digest_of(ci)).revoked_at is not None
    assert ApiToken.objects.get(digest=ApiToken.digest_of(cron)).revoked_at is None
    assert _mint("olive", "--revoke", "--name", "cron") == ("", "Revoked 1 token(s) of olive.\n")
    live = ApiToken.objects.filter(revoked_at__isnull=True)
    assert [t.digest for t in live] == [ApiToken.digest_of(rotated)]
    # Without --name, rotating replaces every live token of the user (scripts from before names).
    _mint("olive", "--name", "cron")
    everything = _mint("olive", "--rotate")[0].strip()
    assert [t.digest for t in ApiToken.objects.filter(revoked_at__isnull=True)] == [ApiToken.digest_of(everything)]

    actions = list(AuditEvent.objects.order_by("id").values_list("action", "door", flat=False))
    assert actions == [
        ("api_token.create", "cli"),
        ("api_token.create", "cli"),
        ("api_token.rotate", "cli"),
        ("api_token.revoke", "cli"),
        ("api_token.create", "cli"),
        ("api_token.rotate", "cli"),
    ]
    assert (
        AuditEvent.objects.order_by("id").last().details["revoked"]
        == [  # type: ignore[union-attr]
            t.prefix
            for t in ApiToken.objects.filter(name__in=["ci", "cron"], revoked_at__isnull=False).order_by("-created_at")[:2]
        ]
    )
    trail = _text_of_tables("audit_auditevent")
    for key in (ci, cron, rotated, everything):
        assert key not in trail and ApiToken.digest_of(key) not in trail


def test_the_admin_lists_tokens_without_keys_and_revokes_them_audited(superuser: User, viewer: User) -> None:
    key = _mint("victor", "--name", "grafana")[0].strip()
    token = ApiToken.objects.get()
    api = Client(HTTP_AUTHORIZATION=f"Token {key}")
    assert api.get(PATH).status_code == 200
    admin = client_for(superuser)
    pages = [admin.get("/admin/opsconsole/apitoken/"), admin.get(f"/admin/opsconsole/apitoken/{token.pk}/change/")]
    for page in pages:
        html = page.content.decode()
        assert page.status_code == 200 and token.prefix in html
        assert key not in html and token.digest not in html
    assert "grafana" in pages[0].content.decode() and "victor" in pages[0].content.decode()
    assert 'name="_save"' not in pages[1].content.decode(), "nothing to edit on a token"
    listed = {
        status: admin.get("/admin/opsconsole/apitoken/", {"status": status}).content.decode().count(token.prefix)
        for status in ("active", "expiring", "expired", "revoked", "never")
    }
    assert {status for status, count in listed.items() if count} == {"active"}  # 90 days left
    assert admin.get("/admin/opsconsole/apitoken/add/").status_code == 403
    # Viewers (and operators) do not see tokens at all.
    assert client_for(viewer).get("/admin/opsconsole/apitoken/").status_code == 403

    ask = admin.post("/admin/opsconsole/apitoken/", {"action": "revoke", "_selected_action": [token.pk]})
    assert ask.status_code == 200 and b"Yes, revoke them" in ask.content
    done = admin.post("/admin/opsconsole/apitoken/", {"action": "revoke", "_selected_action": [token.pk], "post": "yes"})
    assert done.status_code == 302
    token.refresh_from_db()
    assert token.revoked_at is not None
    event = AuditEvent.objects.get(action="api_token.revoke")
    assert (event.door, event.actor, event.target_repr) == ("admin", f"admin:{superuser.username}", str(token))
    refused = api.get(PATH)
    assert refused.status_code == 401 and "revoked" in refused.json()["detail"]


def test_the_openapi_schema_names_the_token_scope_of_each_operation() -> None:
    import json

    from drf_spectacular.generators import SchemaGenerator
    from drf_spectacular.renderers import OpenApiJsonRenderer

    schema = json.loads(
        OpenApiJsonRenderer().render(SchemaGenerator().get_schema(request=None, public=True), renderer_context={})
    )
    scopes = {
        (method, path): operation.get("x-token-scope")
        for path, operations in schema["paths"].items()
        for method, operation in operations.items()
    }
    assert scopes[("get", "/api/v1/job-runs")] == "read"
    assert scopes[("post", "/api/v1/jobs/update")] == "operate"
    assert all(scope == ("read" if method == "get" else "operate") for (method, _), scope in scopes.items() if scope)
    assert "API token scope: `operate`." in schema["paths"]["/api/v1/jobs/update"]["post"]["description"]
    assert "read" in schema["components"]["securitySchemes"]["tokenAuth"]["description"]


def test_over_real_http_a_read_token_reads_and_is_refused_a_write(live_server, operator: User) -> None:  # type: ignore[no-untyped-def]
    import requests

    base = live_server.url.replace("localhost", "127.0.0.1")
    headers = {"Authorization": f"Bearer {api_key_for(operator, scope='read')}"}
    assert requests.get(f"{base}{PATH}", headers=headers, timeout=10).status_code == 200
    refused = requests.post(
        f"{base}/api/v1/jobs/update", json={"name": "retention", "run_now": True}, headers=headers, timeout=10
    )
    assert refused.status_code == 403 and refused.json()["detail"] == READ_SCOPE_REFUSAL
    expired = {"Authorization": f"Token {api_key_for(operator, expires_at=timezone.now() - timedelta(seconds=1))}"}
    answer = requests.get(f"{base}{PATH}", headers=expired, timeout=10)
    assert answer.status_code == 401 and "expired" in answer.json()["detail"]
