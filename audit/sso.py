"""Single sign-on (OpenID Connect, authorization code with PKCE S256) on mozilla-django-oidc:
who a person is, which roles the provider gives them, and the re-check of their session
(docs/runbooks/staff-access.md; the settings are core.sso's).

A person is their issuer + `sub`, never their e-mail address. At every sign-in and every re-check
the groups claim sets their roles afresh: a role the claim no longer grants is taken away, and
with no role left they are not staff and are refused. Sign-ins, refusals and role changes are
audited. Anything wrong on the way back from the provider (a state this browser never asked for
or already used, a code the provider refuses, a token from another issuer, no `sub`) ends on a
plain 400 page with nobody signed in and nothing created.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import re
import time
from dataclasses import dataclass
from typing import Any

import jwt
import requests
from django.conf import settings
from django.contrib.auth import BACKEND_SESSION_KEY, get_user_model, logout
from django.contrib.auth.models import Group
from django.core.exceptions import SuspiciousOperation
from django.db import transaction
from django.http import Http404, HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.deprecation import MiddlewareMixin
from django.utils.module_loading import import_string
from mozilla_django_oidc.auth import OIDCAuthenticationBackend
from mozilla_django_oidc.middleware import SessionRefresh
from mozilla_django_oidc.views import OIDCAuthenticationCallbackView, OIDCAuthenticationRequestView

from audit.models import AuditEvent
from audit.services import audit_record
from core.actors import actor_of
from core.admin_site import environment_context
from core.models import ExternalIdentity
from core.sso import ADMINS, GROUP_ROLES, REAUTH_PARAMETER, sso_enabled, sso_provider_name, sso_roles_from_claims
from core.stepup import auth_stamp

logger = logging.getLogger(__name__)
# A step-up asked of the provider (session keys): when, and when the provider last checked the person.
REAUTH_REQUESTED_AT = "oidc_reauth_requested_at"
AUTH_TIME = "oidc_auth_time"
CLOCK_SKEW_SECONDS = 30


class SsoError(Exception):
    """A sign-in that did not complete: what the person reads, and the page's status."""

    status = 400

    def __init__(self, message: str, *, reason: str) -> None:
        super().__init__(message)
        self.message = message
        self.reason = reason


class SsoRefused(SsoError):
    """The provider vouched for the person, but the console gives them no role."""

    status = 403


# --- Who the person is, and their roles ---------------------------------------------------------


def _username(issuer: str, sub: str, claims: dict[str, Any], *, length: int = 8) -> str:
    """Readable and stable: the provider's preferred username (or the e-mail's local part) for
    people, then a digest of issuer + sub that makes it unique. Chosen once, at creation."""
    hint = str(claims.get("preferred_username") or str(claims.get("email") or "").split("@")[0] or "sso")
    base = re.sub(r"[^a-z0-9._-]+", "-", hint.lower()).strip("-.")[:100] or "sso"
    digest = base64.b32encode(hashlib.sha256(f"{issuer}\n{sub}".encode()).digest()).decode().lower()
    return f"{base}.{digest[:length]}"


def _profile(user: Any, claims: dict[str, Any]) -> list[str]:
    """Name and e-mail as the provider has them now (shown in the admin; never used to find anyone)."""
    wanted = {
        "first_name": str(claims.get("given_name") or "")[:150],
        "last_name": str(claims.get("family_name") or "")[:150],
        "email": str(claims.get("email") or "")[:254],
    }
    changed = [field for field, value in wanted.items() if getattr(user, field) != value]
    for field in changed:
        setattr(user, field, wanted[field])
    return changed


def _roles_of(user: Any) -> set[str]:
    roles = set(user.groups.filter(name__in=GROUP_ROLES).values_list("name", flat=True))
    if user.is_superuser:
        roles.add(ADMINS)
    return roles


@dataclass(frozen=True)
class SignIn:
    """What the provider's word comes to here: the user (None when a first sign-in brings no
    role: nobody is created), their roles now, and why they are refused ("" when they are not)."""

    user: Any
    roles: frozenset[str]
    refused: str = ""


@transaction.atomic
def sso_user_sign_in(*, issuer: str, claims: dict[str, Any]) -> SignIn:
    """The console user of the person the provider vouched for, created at their first sign-in,
    with the roles their groups claim grants now: added and removed, audited when they change.
    Refusals (no role, a deactivated user) are audited and returned, not raised, so the roles
    taken away stay taken away; the caller refuses the sign-in."""
    sub = str(claims.get("sub") or "")
    if not sub:
        raise SsoError("The provider did not say who you are (no subject).", reason="missing_sub")
    roles = frozenset(sso_roles_from_claims(claims))
    groups_claim = claims.get(settings.OIDC_GROUPS_CLAIM or "groups")
    identity = ExternalIdentity.objects.select_for_update().select_related("user").filter(issuer=issuer, sub=sub).first()
    if identity is None and not roles:
        username = _username(issuer, sub, claims)
        audit_record(
            actor=f"admin:{username}",
            action="login.sso",
            target_type="single sign-on identity",
            target_id=sub,
            target_repr=f"{username} (not created)",
            outcome=AuditEvent.Outcome.REFUSED,
            details={"issuer": issuer, "created": False, "roles": [], "reason": "no_role"},
        )
        return SignIn(user=None, roles=roles, refused="no_role")
    created = identity is None
    if identity is None:
        User = get_user_model()
        username = _username(issuer, sub, claims)
        if User.objects.filter(username=username).exists():
            username = _username(issuer, sub, claims, length=26)
        new_user = User(username=username)
        new_user.set_unusable_password()
        new_user.save()
        identity = ExternalIdentity.objects.create(issuer=issuer, sub=sub, user=new_user)
    user = identity.user
    actor = actor_of(user, door="admin")
    if not user.is_active:
        audit_record(
            actor=actor,
            action="login.sso",
            target=user,
            outcome=AuditEvent.Outcome.REFUSED,
            details={"issuer": issuer, "reason": "deactivated"},
        )
        return SignIn(user=user, roles=frozenset(), refused="deactivated")

    before = frozenset(_roles_of(user))
    changed = _profile(user, claims)
    if user.is_superuser != (ADMINS in roles) or user.is_staff != bool(roles):
        user.is_superuser, user.is_staff = ADMINS in roles, bool(roles)
        changed += ["is_superuser", "is_staff"]
    if changed:
        user.save(update_fields=changed)
    for name in GROUP_ROLES:
        if name in roles and name not in before:
            user.groups.add(Group.objects.get_or_create(name=name)[0])
        elif name not in roles and name in before:
            user.groups.remove(*Group.objects.filter(name=name))
    if roles != before:
        audit_record(
            actor=actor,
            action="user.roles_sso",
            target=user,
            details={
                "issuer": issuer,
                "added": sorted(roles - before),
                "removed": sorted(before - roles),
                "roles": sorted(roles),
                "groups_claim": groups_claim if isinstance(groups_claim, list | str) else None,
            },
        )
    identity.last_login_at = timezone.now()
    identity.last_groups = groups_claim if isinstance(groups_claim, list) else [groups_claim] if groups_claim else []
    identity.save(update_fields=["last_login_at", "last_groups"])
    if created or not roles:
        audit_record(
            actor=actor,
            action="login.sso",
            target=user,
            outcome=AuditEvent.Outcome.OK if roles else AuditEvent.Outcome.REFUSED,
            details={"issuer": issuer, "created": created, "roles": sorted(roles), **({} if roles else {"reason": "no_role"})},
        )
    return SignIn(user=user, roles=roles, refused="" if roles else "no_role")


def breakglass_login_audit(*, user: Any) -> None:
    """The user_logged_in receiver: with password sign-in kept for the break-glass account, every
    use of it leaves an audit row (someone broke the glass: find out why)."""
    if settings.LOCAL_LOGIN != "breakglass" or getattr(user, "backend", "") != "core.sso.LocalPasswordBackend":
        return
    audit_record(
        actor=actor_of(user, door="admin"),
        action="login.breakglass",
        target=user,
        details={"sso_enabled": sso_enabled()},
    )


# --- mozilla-django-oidc, as the console uses it --------------------------------------------------


class SsoBackend(OIDCAuthenticationBackend):
    """mozilla-django-oidc's backend, keyed by issuer + sub. It answers only the callback of a
    sign-in this browser started (the view passes the nonce), and only while OIDC_ENABLED."""

    def authenticate(self, request: Any, **kwargs: Any) -> Any:
        if not sso_enabled() or request is None or "nonce" not in kwargs:
            return None
        try:
            return super().authenticate(request, **kwargs)
        except SsoError:
            raise
        except requests.HTTPError as exc:
            status = exc.response.status_code if exc.response is not None else None
            logger.warning("single sign-on: the provider refused the code exchange (HTTP %s)", status)
            raise SsoError(
                "The provider refused this sign-in (the code expired or was already used). Sign in again.",
                reason="code_refused",
            ) from None
        except requests.RequestException as exc:
            logger.warning("single sign-on: provider unreachable: %s", type(exc).__name__)
            raise SsoError("The sign-in provider could not be reached. Try again in a moment.", reason="unreachable") from None
        except (SuspiciousOperation, jwt.PyJWTError) as exc:
            logger.warning("single sign-on: token refused: %s", type(exc).__name__)
            raise SsoError("The provider's answer did not check out. Sign in again.", reason="bad_token") from None

    def verify_token(self, token: str, **kwargs: Any) -> Any:
        """The library checks the signature, expiry and nonce; the issuer and audience are checked
        here, so a token another provider (or another client) was given is refused."""
        payload = super().verify_token(token, **kwargs)
        if getattr(self, "request", None) is not None and "auth_time" in payload:
            self.request.session[AUTH_TIME] = payload["auth_time"]
        if payload.get("iss") != settings.OIDC_OP_ISSUER:
            raise SsoError("The sign-in came from a provider this console does not know.", reason="unknown_issuer")
        audience = payload.get("aud")
        audiences = audience if isinstance(audience, list) else [audience]
        if settings.OIDC_RP_CLIENT_ID not in audiences:
            raise SsoError("The provider's answer was meant for another application.", reason="wrong_audience")
        return payload

    def get_or_create_user(self, access_token: str, id_token: str, payload: dict[str, Any]) -> Any:
        userinfo = self.get_userinfo(access_token, id_token, payload)
        if not payload.get("sub"):
            raise SsoError("The provider did not say who you are (no subject).", reason="missing_sub")
        if userinfo.get("sub") != payload["sub"]:
            # OpenID Connect Core 5.3.2: a userinfo answer about someone else is not to be used.
            raise SsoError("The provider's answer did not check out. Sign in again.", reason="userinfo_sub_mismatch")
        # The groups claim may come in either (Entra ID puts it in the ID token only).
        claims = {**payload, **userinfo}
        signed_in = sso_user_sign_in(issuer=payload["iss"], claims=claims)
        if signed_in.refused == "deactivated":
            raise SsoRefused("Your console account is deactivated. Ask an administrator.", reason="deactivated")
        if signed_in.refused:
            raise SsoRefused(
                f"Your {sso_provider_name()} account has no role in this console. Ask for one of its groups.",
                reason=signed_in.refused,
            )
        return signed_in.user

    def get_user(self, user_id: Any) -> Any:
        # Switching single sign-on off ends its sessions.
        return super().get_user(user_id) if sso_enabled() else None


def _page(request: HttpRequest, error: SsoError | None = None, *, status: int = 400, message: str = "") -> HttpResponse:
    return TemplateResponse(
        request,
        "admin/sso_error.html",
        {
            "title": "Not signed in",
            "message": error.message if error else message,
            "provider_name": sso_provider_name(),
            "login_url": reverse("admin:login"),
            "ops_environment": environment_context(),
        },
        status=error.status if error else status,
    )


class SsoAuthenticateView(OIDCAuthenticationRequestView):
    """/oidc/authenticate/: off unless OIDC_ENABLED."""

    def get(self, request: HttpRequest) -> HttpResponse:
        if not sso_enabled():
            raise Http404("single sign-on is off")
        if request.GET.get(REAUTH_PARAMETER):
            request.session[REAUTH_REQUESTED_AT] = time.time()
        return super().get(request)

    def get_extra_params(self, request: HttpRequest) -> dict[str, str]:
        params = dict(super().get_extra_params(request))
        if request.GET.get(REAUTH_PARAMETER):
            # Step-up: the provider asks for the password again rather than reuse its own session.
            params.update(prompt="login", max_age="0")
        return params


class SsoCallbackView(OIDCAuthenticationCallbackView):
    """/oidc/callback/: the library's flow, with every failure a plain page and nobody signed in."""

    def get(self, request: HttpRequest) -> HttpResponse:
        if not sso_enabled():
            raise Http404("single sign-on is off")
        state = request.GET.get("state")
        if not state or state not in request.session.get("oidc_states", {}):
            # Forged, replayed, or from another browser: nothing here asked for it, so nothing
            # changes either (a link to here must not sign anyone out).
            logger.warning("single sign-on: callback with a state this session did not issue")
            return _page(request, message="This sign-in was not started here, or was already used. Sign in again.")
        if not request.GET.get("error") and not request.GET.get("code"):
            return self._fail(request, "This sign-in link is incomplete. Sign in again.")
        try:
            return super().get(request)
        except SsoError as exc:
            if request.user.is_authenticated:
                logout(request)
            return _page(request, exc)

    def login_success(self) -> HttpResponse:
        # The library does not sign in again a person already signed in (a re-check), so no
        # sign-in stamps the session: a step-up counts only if the provider says, in the ID
        # token's auth_time, that it checked the person after the step-up asked it to.
        response = super().login_success()
        session = self.request.session
        requested_at, auth_time = session.pop(REAUTH_REQUESTED_AT, None), session.pop(AUTH_TIME, None)
        if requested_at is not None and auth_time is not None and float(auth_time) >= float(requested_at) - CLOCK_SKEW_SECONDS:
            auth_stamp(self.request)
        return response

    def login_failure(self) -> HttpResponse:
        error = self.request.GET.get("error")
        if error in ("login_required", "interaction_required", "consent_required"):
            message = f"Your {sso_provider_name()} session has ended. Sign in again."
        elif error == "access_denied":
            message = f"{sso_provider_name()} did not sign you in."
        else:
            message = "The sign-in did not complete. Sign in again."
        return self._fail(self.request, message)

    @staticmethod
    def _fail(request: HttpRequest, message: str) -> HttpResponse:
        if request.user.is_authenticated:
            logout(request)
        return _page(request, message=message)


class SsoSessionRefresh(SessionRefresh):
    """mozilla-django-oidc's SessionRefresh, reading the settings at each request: a single sign-on
    session whose last check at the provider is OIDC_RENEW_ID_TOKEN_EXPIRY_SECONDS old goes back
    there (prompt=none) on its next page, and the callback sets the roles afresh. Requests the
    library does not redirect (a POST, an API call) end the session once the check is a second
    interval overdue, so nobody keeps a removed role by never loading a page."""

    def __init__(self, get_response: Any) -> None:
        MiddlewareMixin.__init__(self, get_response)

    OIDC_EXEMPT_URLS: list[Any] = []
    OIDC_STATE_SIZE = 32
    OIDC_AUTHENTICATION_CALLBACK_URL = "oidc_authentication_callback"
    OIDC_USE_NONCE = True
    OIDC_NONCE_SIZE = 32

    @property
    def OIDC_OP_AUTHORIZATION_ENDPOINT(self) -> str:  # noqa: N802 - the library's attribute name
        return str(settings.OIDC_OP_AUTHORIZATION_ENDPOINT)

    @property
    def OIDC_RP_CLIENT_ID(self) -> str:  # noqa: N802
        return str(settings.OIDC_RP_CLIENT_ID)

    @property
    def OIDC_RP_SCOPES(self) -> str:  # noqa: N802
        return str(settings.OIDC_RP_SCOPES)

    def process_request(self, request: HttpRequest) -> HttpResponse | None:
        if not sso_enabled() or not self._is_sso_session(request):
            return None
        overdue = time.time() - request.session.get("oidc_id_token_expiration", 0)
        if overdue > settings.OIDC_RENEW_ID_TOKEN_EXPIRY_SECONDS:
            logout(request)
            return None
        return super().process_request(request)  # type: ignore[no-any-return]

    def _is_sso_session(self, request: HttpRequest) -> bool:
        if not request.user.is_authenticated or request.path in self.exempt_urls:
            return False
        backend = request.session.get(BACKEND_SESSION_KEY)
        return isinstance(backend, str) and issubclass(import_string(backend), OIDCAuthenticationBackend)
