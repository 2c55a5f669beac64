"""Step-up before destructive actions: the rule, once (docs/runbooks/staff-access.md).

A destructive action asks the person to authenticate again (password, plus a code when they have
a two-factor device) when their last authentication — the sign-in, a two-factor code, or an
earlier step-up — is older than STEP_UP_MINUTES. Admin actions carry `@destructive`: the
re-authentication page stands in for the action, posts the same selection back, and on success
the action runs (an action with a confirmation page shows it, asked afresh). Session-authenticated
API calls of destructive endpoints get 403 JSON instead (`RecentAuthentication`); API tokens are
not asked (their scope decides). Wrong passwords count toward the login lockout (django-axes).
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from typing import Any, TypeVar
from urllib.parse import urlencode

from django.conf import settings
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.contrib.admin.utils import unquote
from django.contrib.auth import authenticate
from django.dispatch import Signal
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect, QueryDict
from django.template.response import TemplateResponse
from django.urls import reverse
from rest_framework.authentication import SessionAuthentication
from rest_framework.exceptions import PermissionDenied
from rest_framework.permissions import SAFE_METHODS, BasePermission

from core.sso import REAUTH_PARAMETER, sso_provider_name, sso_session
from core.twofactor import has_device, second_factor_check

# sender=<action name>, request=, user=; step_up_failed also has reason ("password" or "code").
step_up_passed = Signal()
step_up_failed = Signal()

AUTH_AT_SESSION_KEY = "ops_auth_at"
STEP_UP_FIELD = "_step_up"
PASSWORD_FIELD = "_step_up_password"
CODE_FIELD = "_step_up_code"
# Fields a confirmation page adds ("yes, do it"): dropped after a step-up, so the confirmation is
# asked afresh rather than taken from a page answered before the re-authentication.
CONFIRMATION_FIELDS = ("post", "confirmed")
REAUTH_NEEDED_MESSAGE = "Re-authentication required: this action needs a sign-in within the last {minutes} minutes."

F = TypeVar("F", bound=Callable[..., Any])


def auth_stamp(request: HttpRequest) -> None:
    """The person just proved who they are (sign-in, two-factor code, step-up)."""
    request.session[AUTH_AT_SESSION_KEY] = time.time()


def auth_is_recent(request: HttpRequest) -> bool:
    at = request.session.get(AUTH_AT_SESSION_KEY)
    return at is not None and time.time() - float(at) <= settings.STEP_UP_MINUTES * 60


def step_up_verify(request: HttpRequest, *, password: str, code: str, action: str) -> str:
    """Check the password (through the lockout) and, for a user with a device, a code. Returns
    an error for the page, or "" after stamping the session."""
    user = request.user
    checked = authenticate(request, username=user.get_username(), password=password) if password else None
    if checked is None or checked.pk != user.pk:
        step_up_failed.send(sender=action, request=request, user=user, reason="password")
        return "That password is not right."
    if has_device(user):
        result = second_factor_check(request, code=code, context="step_up")
        if result.device is None:
            step_up_failed.send(sender=action, request=request, user=user, reason="code")
            return result.error
    auth_stamp(request)
    step_up_passed.send(sender=action, request=request, user=user)
    return ""


def destructive(action: F) -> F:
    """Mark an admin action destructive: it runs only after a recent authentication."""

    @functools.wraps(action)
    def wrapper(modeladmin: Any, request: HttpRequest, queryset: Any) -> Any:
        page = _step_up(
            request,
            name=getattr(action, "__name__", "action"),
            drop=CONFIRMATION_FIELDS,
            page=lambda error: step_up_page(request, modeladmin=modeladmin, queryset=queryset, action=action, error=error),
        )
        return page if page is not None else action(modeladmin, request, queryset)

    wrapper.destructive = True  # type: ignore[attr-defined]
    return wrapper  # type: ignore[return-value]


def step_up_for_view(request: HttpRequest, *, modeladmin: Any, name: str, what: str) -> HttpResponse | None:
    """The same rule for a destructive POST of a custom admin page (its own form is the
    confirmation): None when it may go on, else the re-authentication page, which posts the
    page's form back as it was filled in."""
    return _step_up(
        request,
        name=name,
        drop=(),
        page=lambda error: _render(request, modeladmin=modeladmin, what=what, carried=_carried(request.POST), error=error),
    )


def _step_up(
    request: HttpRequest, *, name: str, drop: tuple[str, ...], page: Callable[[str], HttpResponse]
) -> HttpResponse | None:
    if auth_is_recent(request):
        return None
    error = ""
    if request.POST.get(STEP_UP_FIELD):
        error = step_up_verify(
            request, password=request.POST.get(PASSWORD_FIELD, ""), code=request.POST.get(CODE_FIELD, ""), action=name
        )
        if not error:
            request.POST = _carried(request.POST, drop=drop)  # type: ignore[assignment]
            return None
    return page(error)


def is_destructive(action: Callable[..., Any]) -> bool:
    return bool(getattr(action, "destructive", False))


def _carried(data: QueryDict, *, drop: tuple[str, ...] = ()) -> QueryDict:
    carried = data.copy()
    for name in ("csrfmiddlewaretoken", STEP_UP_FIELD, PASSWORD_FIELD, CODE_FIELD, *drop):
        carried.pop(name, None)
    return carried


def step_up_page(request: HttpRequest, *, modeladmin: Any, queryset: Any, action: Callable[..., Any], error: str) -> HttpResponse:
    """The re-authentication page, in place of the action: it posts the same form back."""
    carried = _carried(request.POST)
    found = modeladmin.get_action(carried.get("action", ""))
    selected = len(carried.getlist(ACTION_CHECKBOX_NAME))
    opts = modeladmin.model._meta
    if carried.get("select_across") == "1":
        subject = f"every matching {opts.verbose_name}"
    else:
        subject = f"{selected} {opts.verbose_name if selected == 1 else opts.verbose_name_plural}"
    description = found[2] if found else getattr(action, "__name__", "")
    return _render(request, modeladmin=modeladmin, what=f"{description} on {subject}", carried=carried, error=error)


def _render(request: HttpRequest, *, modeladmin: Any, what: str, carried: QueryDict | None, error: str) -> HttpResponse:
    context = {
        **modeladmin.admin_site.each_context(request),
        "title": "Confirm it is you",
        "opts": modeladmin.model._meta,
        "what": what,
        "carried": [(name, value) for name, values in carried.lists() for value in values] if carried else [],
        "needs_code": has_device(request.user),
        "minutes": settings.STEP_UP_MINUTES,
        "error": error,
        "fields": {"marker": STEP_UP_FIELD, "password": PASSWORD_FIELD, "code": CODE_FIELD},
    }
    if sso_session(request):
        # Signed in through the provider: it signs the person in afresh (prompt=login), which
        # stamps the session as any sign-in does; they come back here and run the action again.
        back = urlencode({"next": request.get_full_path(), REAUTH_PARAMETER: "1"})
        context["sso_reauth"] = {"url": f"{reverse('oidc_authentication_init')}?{back}", "provider": sso_provider_name()}
    return TemplateResponse(request, "admin/step_up.html", context, status=403 if error else 200)


class StepUpToChangeMixin:
    """A ModelAdmin whose existing objects are sensitive to edit (alert channels: where pages go):
    their change form opens, and saves, only after a recent authentication. The re-authentication
    page carries no field of the form (a new secret typed there stays off every page); after it
    the form opens again."""

    def changeform_view(
        self, request: HttpRequest, object_id: str | None = None, form_url: str = "", extra_context: Any = None
    ) -> HttpResponse:
        if object_id is not None and not auth_is_recent(request) and self.has_change_permission(request):  # type: ignore[attr-defined]
            error = ""
            if request.method == "POST" and request.POST.get(STEP_UP_FIELD):
                name = f"change_{self.model._meta.model_name}"  # type: ignore[attr-defined]
                error = step_up_verify(
                    request, password=request.POST.get(PASSWORD_FIELD, ""), code=request.POST.get(CODE_FIELD, ""), action=name
                )
                if not error:
                    return HttpResponseRedirect(request.get_full_path())
            obj = self.get_object(request, unquote(object_id))  # type: ignore[attr-defined]
            what = f"Editing {self.model._meta.verbose_name} “{obj if obj is not None else object_id}”"  # type: ignore[attr-defined]
            if request.method == "POST" and not request.POST.get(STEP_UP_FIELD):
                what += " (nothing was saved: make the change again after this)"
            return _render(request, modeladmin=self, what=what, carried=None, error=error)
        return super().changeform_view(request, object_id, form_url, extra_context)  # type: ignore[misc]


class RecentAuthentication(BasePermission):
    """Destructive API endpoints called with a session (a browser) need a recent authentication;
    token callers are not asked (their scope decides)."""

    message = REAUTH_NEEDED_MESSAGE

    def has_permission(self, request: Any, view: Any) -> bool:
        if request.method in SAFE_METHODS or not isinstance(request.successful_authenticator, SessionAuthentication):
            return True
        if auth_is_recent(request._request):
            return True
        raise PermissionDenied(
            detail=REAUTH_NEEDED_MESSAGE.format(minutes=settings.STEP_UP_MINUTES), code="reauthentication_required"
        )


class DestructiveEndpoint:
    """An API view whose writes are destructive: RecentAuthentication after the view's own
    permissions, whatever they are."""

    def get_permissions(self) -> list[Any]:
        return [*super().get_permissions(), RecentAuthentication()]  # type: ignore[misc]
