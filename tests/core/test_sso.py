"""Single sign-on against a real OpenID provider process on loopback (tests/fixtures_oidc.py):
people keyed by issuer + sub, roles from the groups claim at every sign-in and re-check, the
callback's failures as plain pages, PKCE S256, the break-glass password login
(docs/runbooks/staff-access.md). The same flows in chromium: tests/core/test_sso_browser.py."""

from __future__ import annotations

import html
import logging
import re
import time
from datetime import UTC, datetime
from io import StringIO
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
import time_machine
from django.contrib.auth.models import User
from django.core.management import call_command
from django.test import Client

from audit.models import AuditEvent
from audit.sso import SsoError, sso_user_sign_in
from core.models import ExternalIdentity
from core.stepup import AUTH_AT_SESSION_KEY
from ingest.models import DeadLetter
from ingest.services import dead_letter_record
from tests.fixtures_oidc import TEST_CALLBACK, OpenIdProvider

pytestmark = pytest.mark.django_db

LOGIN = "/admin/login/?next=/admin/"


def _person(provider: OpenIdProvider, username: str, groups: list[str], **fields: Any) -> dict[str, Any]:
    fields.setdefault("email", f"{username}@corp.example")
    return provider.user_put(username, password=f"pw-{username}", groups=groups, **fields)


def _start(client: Client) -> str:
    response = client.get("/oidc/authenticate/?next=/admin/")
    assert response.status_code == 302
    return str(response["Location"])


def _callback(client: Client, location: str) -> Any:
    assert location.startswith(TEST_CALLBACK), location
    query = {name: values[0] for name, values in parse_qs(urlsplit(location).query).items()}
    return client.get(urlsplit(location).path, query)


def _sso_login(client: Client, provider: OpenIdProvider, username: str, *, http: requests.Session | None = None) -> Any:
    location = provider.sign_in(_start(client), username=username, password=f"pw-{username}", session=http)
    return _callback(client, location)


def _signed_in_as(client: Client) -> User | None:
    user_id = client.session.get("_auth_user_id")
    return User.objects.get(pk=user_id) if user_id else None


def test_first_sign_in_creates_a_user_keyed_by_issuer_and_sub_with_the_claims_role(openid_provider: OpenIdProvider) -> None:
    person = _person(openid_provider, "alice", ["opsconsole-operators", "unrelated-team"], given_name="Alice")
    client = Client()
    response = _sso_login(client, openid_provider, "alice")

    assert response.status_code == 302 and response["Location"] == "/admin/"
    user = _signed_in_as(client)
    assert user is not None
    identity = ExternalIdentity.objects.get(user=user)
    assert (identity.issuer, identity.sub) == (openid_provider.issuer, person["sub"])
    assert identity.last_groups == ["opsconsole-operators", "unrelated-team"]
    assert user.username.startswith("alice.") and user.first_name == "Alice"
    assert user.is_staff and not user.is_superuser and not user.has_usable_password()
    assert list(user.groups.values_list("name", flat=True)) == ["operators"]
    assert client.get("/admin/").status_code == 200
    actions = dict(AuditEvent.objects.filter(target_id=str(user.pk)).values_list("action", "outcome"))
    assert actions == {"login.sso": "ok", "user.roles_sso": "ok"}
    roles_row = AuditEvent.objects.get(action="user.roles_sso")
    assert roles_row.details["added"] == ["operators"] and roles_row.actor == f"admin:{user.username}"


def test_the_person_is_found_by_sub_never_by_email(openid_provider: OpenIdProvider) -> None:
    _person(openid_provider, "bob", ["opsconsole-viewers"])
    _sso_login(Client(), openid_provider, "bob")
    bob = User.objects.get(external_identities__isnull=False)
    # bob's address changes; someone else at the provider now has bob's old address.
    openid_provider.user_put("bob", email="robert@corp.example")
    _person(openid_provider, "mallory", ["opsconsole-viewers"], email="bob@corp.example")
    User.objects.create_user("local-bob", "robert@corp.example", "pw-local-bob-1!")

    bob_again, mallory = Client(), Client()
    _sso_login(bob_again, openid_provider, "bob")
    _sso_login(mallory, openid_provider, "mallory")

    assert _signed_in_as(bob_again) == bob
    assert _signed_in_as(mallory) not in (None, bob)
    bob.refresh_from_db()
    assert bob.email == "robert@corp.example"
    assert ExternalIdentity.objects.count() == 2


def test_roles_follow_the_claim_at_every_sign_in_added_and_removed(openid_provider: OpenIdProvider) -> None:
    _person(openid_provider, "carol", ["opsconsole-operators"])
    _sso_login(Client(), openid_provider, "carol")
    carol = User.objects.get(external_identities__isnull=False)

    openid_provider.user_put("carol", groups=["opsconsole-viewers"])
    _sso_login(Client(), openid_provider, "carol")
    carol.refresh_from_db()
    assert list(carol.groups.values_list("name", flat=True)) == ["viewers"]

    openid_provider.user_put("carol", groups=["opsconsole-admins", "opsconsole-viewers"])
    _sso_login(Client(), openid_provider, "carol")
    carol.refresh_from_db()
    assert carol.is_superuser and carol.is_staff

    changes = [
        (row.details["added"], row.details["removed"])
        for row in AuditEvent.objects.filter(action="user.roles_sso").order_by("id")
    ]
    assert changes == [(["operators"], []), (["viewers"], ["operators"]), (["admins"], [])]


def test_no_role_in_the_claim_is_refused_with_a_plain_page_and_the_old_role_removed(openid_provider: OpenIdProvider) -> None:
    _person(openid_provider, "dave", ["opsconsole-operators"])
    _sso_login(Client(), openid_provider, "dave")
    dave = User.objects.get(external_identities__isnull=False)

    openid_provider.user_put("dave", groups=["unrelated-team"])
    client = Client()
    response = _sso_login(client, openid_provider, "dave")

    assert response.status_code == 403
    assert b"Not signed in" in response.content and b"no role in this console" in response.content
    assert _signed_in_as(client) is None
    dave.refresh_from_db()
    assert not dave.is_staff and not dave.groups.exists()
    refused = AuditEvent.objects.filter(action="login.sso", outcome="refused").get()
    assert refused.details["reason"] == "no_role"
    assert AuditEvent.objects.filter(action="user.roles_sso").latest("id").details["removed"] == ["operators"]


def test_a_forged_state_is_refused_with_a_plain_page_and_nothing_created(openid_provider: OpenIdProvider) -> None:
    _person(openid_provider, "erin", ["opsconsole-operators"])
    client = Client()
    location = openid_provider.sign_in(_start(client), username="erin", password="pw-erin")
    code = parse_qs(urlsplit(location).query)["code"][0]

    response = client.get("/oidc/callback/", {"code": code, "state": "forged-state-value"})

    assert response.status_code == 400
    assert b"Not signed in" in response.content and b"not started here" in response.content
    assert code.encode() not in response.content
    assert _signed_in_as(client) is None
    assert not User.objects.exists() and not ExternalIdentity.objects.exists()


def test_a_replayed_callback_is_refused_and_one_from_another_browser_too(openid_provider: OpenIdProvider) -> None:
    _person(openid_provider, "frank", ["opsconsole-viewers"])
    client = Client()
    location = openid_provider.sign_in(_start(client), username="frank", password="pw-frank")

    other_browser = Client()
    assert _callback(other_browser, location).status_code == 400
    assert _signed_in_as(other_browser) is None

    assert _callback(client, location).status_code == 302
    client.logout()
    replayed = _callback(client, location)
    assert replayed.status_code == 400 and b"already used" in replayed.content
    assert _signed_in_as(client) is None


def test_a_forged_callback_does_not_sign_out_whoever_follows_it(openid_provider: OpenIdProvider) -> None:
    _person(openid_provider, "gina", ["opsconsole-viewers"])
    client = Client()
    _sso_login(client, openid_provider, "gina")
    assert client.get("/oidc/callback/", {"error": "access_denied", "state": "forged"}).status_code == 400
    assert _signed_in_as(client) is not None


def test_a_code_the_provider_refuses_is_a_plain_page(openid_provider: OpenIdProvider) -> None:
    _person(openid_provider, "hank", ["opsconsole-viewers"])
    client = Client()
    location = openid_provider.sign_in(_start(client), username="hank", password="pw-hank")
    state = parse_qs(urlsplit(location).query)["state"][0]

    response = client.get("/oidc/callback/", {"code": "expired-or-made-up", "state": state})

    assert response.status_code == 400 and b"refused this sign-in" in response.content
    assert _signed_in_as(client) is None and not User.objects.exists()


def test_a_token_from_another_issuer_is_refused(openid_provider: OpenIdProvider, settings: Any) -> None:
    _person(openid_provider, "ivy", ["opsconsole-viewers"])
    settings.OIDC_OP_ISSUER = "https://login.other.example"
    client = Client()
    response = _sso_login(client, openid_provider, "ivy")
    assert response.status_code == 400 and b"does not know" in response.content
    assert _signed_in_as(client) is None and not User.objects.exists()


def test_claims_without_a_subject_create_nothing() -> None:
    with pytest.raises(SsoError) as raised:
        sso_user_sign_in(issuer="https://idp.example", claims={"email": "x@corp.example", "groups": ["opsconsole-admins"]})
    assert raised.value.reason == "missing_sub"
    assert not User.objects.exists() and not ExternalIdentity.objects.exists()


def test_the_authorize_request_uses_pkce_s256_and_the_provider_wants_the_verifier(openid_provider: OpenIdProvider) -> None:
    _person(openid_provider, "jack", ["opsconsole-viewers"])
    authorize_url = _start(Client())
    query = parse_qs(urlsplit(authorize_url).query)
    assert query["code_challenge_method"] == ["S256"] and len(query["code_challenge"][0]) == 43
    assert query["response_type"] == ["code"] and "groups" in query["scope"][0].split()

    # A stolen code is worth nothing without the verifier this console kept.
    location = openid_provider.sign_in(authorize_url, username="jack", password="pw-jack")
    code = parse_qs(urlsplit(location).query)["code"][0]
    response = requests.post(
        f"{openid_provider.issuer}/token",
        data={
            "grant_type": "authorization_code", "code": code, "redirect_uri": TEST_CALLBACK,
            "client_id": openid_provider.client_id, "client_secret": openid_provider.client_secret,
            "code_verifier": "x" * 64,
        },
        timeout=10,
    )
    assert response.status_code == 400


def test_the_session_is_rechecked_at_the_provider_and_a_removed_claim_ends_it(openid_provider: OpenIdProvider, settings: Any) -> None:
    settings.OIDC_RENEW_ID_TOKEN_EXPIRY_SECONDS = 60
    _person(openid_provider, "kate", ["opsconsole-operators"])
    client, at_provider = Client(), requests.Session()
    with time_machine.travel(datetime.now(UTC), tick=True) as traveller:
        _sso_login(client, openid_provider, "kate", http=at_provider)
        assert client.get("/admin/").status_code == 200

        traveller.shift(61)
        recheck = client.get("/admin/")
        assert recheck.status_code == 302 and recheck["Location"].startswith(openid_provider.issuer + "/authorize?")
        assert parse_qs(urlsplit(recheck["Location"]).query)["prompt"] == ["none"]
        back = _callback(client, openid_provider.sign_in(recheck["Location"], username="kate", password="", session=at_provider))
        assert back.status_code == 302 and back["Location"] == "/admin/"
        assert client.get("/admin/").status_code == 200

        openid_provider.user_put("kate", groups=[])
        traveller.shift(61)
        recheck = client.get("/admin/")
        refused = _callback(client, openid_provider.sign_in(recheck["Location"], username="kate", password="", session=at_provider))
        assert refused.status_code == 403
        assert _signed_in_as(client) is None
        assert client.get("/admin/").status_code == 302
    kate = User.objects.get(external_identities__isnull=False)
    assert not kate.is_staff and not kate.groups.exists()


def test_a_session_never_rechecked_ends_on_a_post_after_two_intervals(openid_provider: OpenIdProvider, settings: Any) -> None:
    settings.OIDC_RENEW_ID_TOKEN_EXPIRY_SECONDS = 60
    _person(openid_provider, "liam", ["opsconsole-operators"])
    client = Client()
    with time_machine.travel(datetime.now(UTC), tick=True) as traveller:
        _sso_login(client, openid_provider, "liam")
        traveller.shift(125)
        client.post("/admin/preferences/", {"time_zone": "UTC"})
        assert _signed_in_as(client) is None


def test_the_login_page_offers_single_sign_on_only_when_it_is_on(openid_provider: OpenIdProvider, settings: Any) -> None:
    page = Client().get(LOGIN)
    assert b"Sign in with Test IdP" in page.content and b'href="/oidc/authenticate/?next=/admin/"' in page.content
    assert b"break-glass" not in page.content
    settings.LOCAL_LOGIN = "breakglass"
    assert b"for the break-glass account only" in Client().get(LOGIN).content
    settings.OIDC_ENABLED = False
    assert b"Sign in with" not in Client().get(LOGIN).content
    assert Client().get("/oidc/authenticate/").status_code == 404
    assert Client().get("/oidc/callback/", {"code": "c", "state": "s"}).status_code == 404


def test_breakglass_leaves_password_sign_in_to_named_superusers_only(settings: Any, superuser: User, operator: User) -> None:
    settings.LOCAL_LOGIN = "breakglass"
    settings.OIDC_BREAKGLASS_USERS = ["root"]

    olive = Client()
    refused = olive.post(LOGIN, {"username": "olive", "password": "pw-olive-123!"})
    assert refused.status_code == 200 and _signed_in_as(olive) is None
    root = Client()
    assert root.post(LOGIN, {"username": "root", "password": "pw-root-123!"}).status_code == 302
    assert AuditEvent.objects.filter(action="login.breakglass", actor="admin:root").count() == 1

    settings.OIDC_BREAKGLASS_USERS = ["someone-else"]
    assert Client().post(LOGIN, {"username": "root", "password": "pw-root-123!"}).status_code == 200


def test_switching_to_breakglass_ends_the_password_sessions_of_everyone_else(settings: Any, operator: User) -> None:
    client = Client()
    assert client.post(LOGIN, {"username": "olive", "password": "pw-olive-123!"}).status_code == 302
    assert client.get("/admin/").status_code == 200
    settings.LOCAL_LOGIN = "breakglass"
    assert client.get("/admin/").status_code == 302


def test_a_single_sign_on_user_never_signs_in_with_a_password(openid_provider: OpenIdProvider) -> None:
    _person(openid_provider, "mia", ["opsconsole-operators"])
    _sso_login(Client(), openid_provider, "mia")
    mia = User.objects.get(external_identities__isnull=False)
    mia.set_password("pw-mia-local-123!")
    mia.save()
    client = Client()
    assert client.post(LOGIN, {"username": mia.username, "password": "pw-mia-local-123!"}).status_code == 200
    assert _signed_in_as(client) is None


def test_sso_discover_prints_the_providers_settings(openid_provider: OpenIdProvider) -> None:
    out = StringIO()
    call_command("sso_discover", openid_provider.issuer, stdout=out)
    printed = dict(line.split("=", 1) for line in out.getvalue().splitlines())
    wanted = openid_provider.console_settings()
    assert printed == {name: wanted[name] for name in printed} and len(printed) == 5


def test_no_code_client_secret_or_password_reaches_a_log_page_or_audit_row(
    openid_provider: OpenIdProvider, caplog: pytest.LogCaptureFixture
) -> None:
    _person(openid_provider, "nora", ["opsconsole-operators"])
    caplog.set_level(logging.DEBUG)
    client = Client()
    location = openid_provider.sign_in(_start(client), username="nora", password="pw-nora")
    code = parse_qs(urlsplit(location).query)["code"][0]
    pages = [_callback(client, location), _callback(client, location), client.get("/admin/")]
    openid_provider.user_put("nora", groups=[])
    other = Client()
    refused_location = openid_provider.sign_in(_start(other), username="nora", password="pw-nora")
    pages += [_callback(other, refused_location)]
    refused_code = parse_qs(urlsplit(refused_location).query)["code"][0]

    audit = " ".join(str(row) for row in AuditEvent.objects.values_list("actor", "target_repr", "details"))
    logged = caplog.text
    assert "no_role" in audit and "audit" in logged
    for secret in (code, refused_code, openid_provider.client_secret, "pw-nora"):
        assert secret not in logged and secret not in audit
        assert all(secret not in page.content.decode() for page in pages)


def test_a_first_sign_in_without_a_role_creates_nobody(openid_provider: OpenIdProvider) -> None:
    _person(openid_provider, "omar", ["unrelated-team"])
    client = Client()
    response = _sso_login(client, openid_provider, "omar")
    assert response.status_code == 403 and b"no role in this console" in response.content
    assert not User.objects.exists() and not ExternalIdentity.objects.exists()
    refused = AuditEvent.objects.get(action="login.sso")
    assert (refused.outcome, refused.details["reason"]) == ("refused", "no_role")


def test_a_deactivated_user_is_refused_and_the_refusal_audited(openid_provider: OpenIdProvider) -> None:
    _person(openid_provider, "pia", ["opsconsole-operators"])
    _sso_login(Client(), openid_provider, "pia")
    User.objects.filter(external_identities__isnull=False).update(is_active=False)
    client = Client()
    response = _sso_login(client, openid_provider, "pia")
    assert response.status_code == 403 and b"deactivated" in response.content
    assert _signed_in_as(client) is None
    assert AuditEvent.objects.filter(action="login.sso", outcome="refused", details__reason="deactivated").count() == 1


def test_check_deploy_wants_the_provider_over_https_and_a_role_mapping(settings: Any) -> None:
    from core.sso import check_sso_over_https

    assert check_sso_over_https() == []
    settings.OIDC_ENABLED = True
    settings.OIDC_OP_ISSUER = "https://idp.example.com"
    for name in ("AUTHORIZATION", "TOKEN", "USER", "JWKS"):
        setattr(settings, f"OIDC_OP_{name}_ENDPOINT", f"https://idp.example.com/{name.lower()}")
    assert check_sso_over_https() == []
    settings.OIDC_OP_TOKEN_ENDPOINT = "http://idp.example.com/token"
    settings.OIDC_ROLE_GROUPS = "staff=superheroes"
    assert [message.id for message in check_sso_over_https()] == ["opsconsole.W101", "opsconsole.W103"]


def test_a_destructive_action_sends_a_single_sign_on_session_to_sign_in_again_at_the_provider(
    openid_provider: OpenIdProvider,
) -> None:
    """Step-up (core/stepup.py) for someone without a password here: the provider signs them in
    afresh (prompt=login, max_age=0), which stamps the session; then the action runs."""
    _person(openid_provider, "olga", ["opsconsole-operators"])
    client, http = Client(), requests.Session()
    _sso_login(client, openid_provider, "olga", http=http)
    letter = dead_letter_record(
        source_service="spotify.albums", operation="fetch_audio_features", error_type="server_error", error_message="boom", payload={}
    )
    purge = {"action": "purge", "_selected_action": [str(letter.pk)], "confirmed": "yes"}
    session = client.session
    session[AUTH_AT_SESSION_KEY] = time.time() - 11 * 60  # signed in 11 minutes ago
    session.save()

    asked = client.post("/admin/ingest/deadletter/", purge)
    page = asked.content.decode()
    assert asked.status_code == 200 and 'id="step-up-sso"' in page and "_step_up_password" not in page
    assert DeadLetter.objects.get(pk=letter.pk).status == "pending"
    reauth = re.search(r'id="step-up-sso" href="([^"]+)"', page)
    assert reauth is not None
    authorize = client.get(html.unescape(reauth.group(1)))
    assert authorize.status_code == 302
    asked_of_provider = parse_qs(urlsplit(authorize["Location"]).query)
    assert asked_of_provider["prompt"] == ["login"] and asked_of_provider["max_age"] == ["0"]

    back = _callback(client, openid_provider.sign_in(authorize["Location"], username="olga", password="pw-olga", session=http))
    assert back.status_code == 302 and back["Location"] == "/admin/ingest/deadletter/"
    done = client.post("/admin/ingest/deadletter/", purge, follow=True)
    assert "1 dead letter purged." in [str(m) for m in done.context["messages"]]
    assert DeadLetter.objects.get(pk=letter.pk).status == "purged"
