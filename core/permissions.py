"""Staff only; the `operators` group acts, the `viewers` group reads, the admins role (superusers)
does everything; a `read` API token reads whatever its user's groups allow."""

from __future__ import annotations

from typing import Any

from rest_framework import exceptions
from rest_framework.permissions import SAFE_METHODS, BasePermission

OPERATORS = "operators"
VIEWERS = "viewers"
# The user's group names, set by the API token cache (core.authentication) on the user it
# hands out; absent, the groups are asked for.
GROUP_NAMES_ATTR = "_opsconsole_group_names"
READ_SCOPE_REFUSAL = "This API token has the read scope; this operation needs a token with the operate scope."


def required_token_scope(method: str) -> str:
    """The API token scope a request of `method` needs: reading is `read`, anything else `operate`."""
    return "read" if method.upper() in SAFE_METHODS else "operate"


def token_scope(request: Any) -> str | None:
    """The scope of the API token that authenticated `request` (None: a session)."""
    return getattr(request.auth, "scope", None)


class ReadScopeRefused(exceptions.PermissionDenied):
    default_detail = READ_SCOPE_REFUSAL
    default_code = "token_scope"


def user_can_operate(user: Any) -> bool:
    if user.is_superuser:
        return True
    names = getattr(user, GROUP_NAMES_ATTR, None)
    return OPERATORS in names if names is not None else bool(user.groups.filter(name=OPERATORS).exists())


def user_is_admin(user: Any) -> bool:
    """The admins role (superusers; core.sso maps the `admins` group to it): what only it may do,
    such as throwing the kill switch, asks this."""
    return bool(user.is_authenticated and user.is_active and user.is_staff and user.is_superuser)


def user_can_view(user: Any) -> bool:
    if user.is_superuser:
        return True
    names = getattr(user, GROUP_NAMES_ATTR, None)
    if names is not None:
        return bool(names & {OPERATORS, VIEWERS})
    return bool(user.groups.filter(name__in=[OPERATORS, VIEWERS]).exists())


class StaffGroupPermission(BasePermission):
    message = "Staff membership in the operators (write) or viewers (read) group is required."

    def has_permission(self, request: Any, view: Any) -> bool:
        user = request.user
        if not (user and user.is_authenticated and user.is_active and user.is_staff):
            return False
        if required_token_scope(request.method) == "read":
            return user_can_view(user)
        if token_scope(request) == "read":
            # Whatever the user's groups: the token was made to read.
            raise ReadScopeRefused()
        return user_can_operate(user)
