"""Single sign-on as configured, and the password sign-in beside it (docs/runbooks/staff-access.md).

The settings are read at each use, never cached at import: the admin's login page, the password
backend and audit.sso (which signs people in and writes their roles) all ask here.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib.auth import BACKEND_SESSION_KEY
from django.contrib.auth.backends import ModelBackend
from django.core.checks import CheckMessage, Tags, register
from django.core.checks import Warning as CheckWarning
from django.http import HttpRequest

from core.models import ExternalIdentity

VIEWERS = "viewers"
OPERATORS = "operators"
ADMINS = "admins"
# viewers and operators are the groups of core.groups; admins are superusers.
ROLES = (VIEWERS, OPERATORS, ADMINS)
GROUP_ROLES = (VIEWERS, OPERATORS)


# The backend that signs people in through the provider (audit.sso): such a session proves who
# it is again at the provider, never with a password it does not have.
SSO_BACKEND = "audit.sso.SsoBackend"
# On /oidc/authenticate/: ask the provider to sign the person in afresh (step-up, core.stepup).
REAUTH_PARAMETER = "reauth"


def sso_session(request: HttpRequest) -> bool:
    return request.session.get(BACKEND_SESSION_KEY) == SSO_BACKEND


def sso_enabled() -> bool:
    return bool(getattr(settings, "OIDC_ENABLED", False))


def sso_provider_name() -> str:
    return str(getattr(settings, "OIDC_PROVIDER_NAME", "") or "single sign-on")


def sso_role_groups() -> dict[str, str]:
    """OIDC_ROLE_GROUPS as {claim value: role}: `idp-group=role,...` (CSV) or a JSON object.
    A role that is not one of ROLES fails loudly: a typo must not quietly grant nothing."""
    raw = getattr(settings, "OIDC_ROLE_GROUPS", "")
    if isinstance(raw, dict):
        pairs = list(raw.items())
    else:
        pairs = []
        for item in str(raw).split(","):
            if not item.strip():
                continue
            value, sep, role = item.rpartition("=")
            if not sep or not value.strip():
                raise ValueError(f"OIDC_ROLE_GROUPS: {item.strip()!r} is not claim-value=role")
            pairs.append((value.strip(), role.strip()))
    mapping: dict[str, str] = {}
    for value, role in pairs:
        if role not in ROLES:
            raise ValueError(f"OIDC_ROLE_GROUPS: {role!r} is not one of {', '.join(ROLES)}")
        mapping[str(value)] = role
    return mapping


def sso_roles_from_claims(claims: dict[str, Any]) -> set[str]:
    """The console roles the groups claim grants. A claim that is a single string counts as one
    group (some providers send one group that way); anything else grants nothing."""
    value = claims.get(getattr(settings, "OIDC_GROUPS_CLAIM", "groups") or "groups")
    if isinstance(value, str):
        values = [value]
    elif isinstance(value, list | tuple):
        values = [item for item in value if isinstance(item, str)]
    else:
        values = []
    mapping = sso_role_groups()
    return {mapping[item] for item in values if item in mapping}


def local_login_allowed(user: Any) -> bool:
    """LOCAL_LOGIN "all": anyone Django would let in; "breakglass": active superusers, and only
    those named in OIDC_BREAKGLASS_USERS when it names any."""
    if getattr(settings, "LOCAL_LOGIN", "all") != "breakglass":
        return True
    if not user.is_superuser:
        return False
    named = [name for name in getattr(settings, "OIDC_BREAKGLASS_USERS", []) if name]
    return not named or user.get_username() in named


class LocalPasswordBackend(ModelBackend):
    """Django's password backend behind LOCAL_LOGIN. A user who signs in through single sign-on
    never signs in with a password (their roles come from the provider, which may have taken them
    away). `get_user` applies LOCAL_LOGIN too, so switching it off ends the password sessions."""

    def authenticate(self, request: Any, username: str | None = None, password: str | None = None, **kwargs: Any) -> Any:
        user = super().authenticate(request, username=username, password=password, **kwargs)
        if user is None:
            return None
        if ExternalIdentity.objects.filter(user=user).exists():
            return None
        return user

    def user_can_authenticate(self, user: Any) -> bool:
        return super().user_can_authenticate(user) and local_login_allowed(user)


def login_page_context() -> dict[str, Any]:
    """What the admin's login page shows: the single sign-on button, and whether the password
    form is for the break-glass account only."""
    return {
        "sso_enabled": sso_enabled(),
        "sso_provider_name": sso_provider_name(),
        "local_login": getattr(settings, "LOCAL_LOGIN", "all"),
    }


_OIDC_URL_SETTINGS = (
    "OIDC_OP_ISSUER",
    "OIDC_OP_AUTHORIZATION_ENDPOINT",
    "OIDC_OP_TOKEN_ENDPOINT",
    "OIDC_OP_USER_ENDPOINT",
    "OIDC_OP_JWKS_ENDPOINT",
)


@register(Tags.security, deploy=True)
def check_sso_over_https(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """`check --deploy`: the provider is reached over HTTPS, and the role mapping reads."""
    if not sso_enabled():
        return []
    messages: list[CheckMessage] = [
        CheckWarning(f"{name} is not an https:// URL.", hint="Tokens and the client secret travel to it.", id="opsconsole.W101")
        for name in _OIDC_URL_SETTINGS
        if not str(getattr(settings, name, "")).startswith("https://")
    ]
    try:
        if not sso_role_groups():
            messages.append(CheckWarning("OIDC_ROLE_GROUPS maps no group to a role: nobody can sign in.", id="opsconsole.W102"))
    except ValueError as exc:
        messages.append(CheckWarning(str(exc), id="opsconsole.W103"))
    return messages
