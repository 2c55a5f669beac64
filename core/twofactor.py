"""Two-factor for local logins (django-otp): a TOTP device, backup codes, and the rule of who must
use them (docs/runbooks/staff-access.md).

After the password, a user who needs a second factor reaches nothing but the verify page (or,
with no device yet, the enrolment page) until a code checks out: the admin redirects there, the
session-authenticated API answers 403. Who needs one is judged at sign-in and kept in the session:
superusers and operators while STAFF_2FA_REQUIRED is on, and anyone who enrolled a device; only
for local (password) sign-ins.

Wrong codes back off per device (django-otp's throttle: 1, 2, 4 ... seconds), count in the
LoginFailureBurst counter and are audited: this module sends signals, `audit.twofactor` writes
the rows (the base imports no app).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import django_otp
from django.conf import settings
from django.contrib.auth import BACKEND_SESSION_KEY
from django.db import transaction
from django.dispatch import Signal
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.http import urlencode
from django_otp.models import Device
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from core.api_errors import ApiJsonErrorsMiddleware
from core.lockout import login_failure_count
from core.permissions import OPERATORS

# Sent with sender=<the view's name>, request=, user=; `kind` is "totp" or "backup_code".
second_factor_verified = Signal()
# reason: "wrong_code" or "throttled"; `context` says where ("login" or "step_up").
second_factor_failed = Signal()
second_factor_enrolled = Signal()

REQUIRED_SESSION_KEY = "ops_2fa_required"
BACKUP_CODE_COUNT = 10
TOTP_DEVICE_NAME = "authenticator"
BACKUP_DEVICE_NAME = "backup codes"
# The pages a signed-in user who still owes a code may reach (admin URL names).
# Health and metrics endpoints (opsconsole/urls.py): no person's sign-in is asked there.
MONITOR_URLS = frozenset({"health", "api-health", "ready", "live", "metrics"})
OPEN_ADMIN_URLS = {"login", "logout", "twofactor_verify", "twofactor_enroll"}
VERIFY_NEEDED_MESSAGE = "Two-factor verification required: sign in to the admin and enter your code first."

_TOTP_FORMAT = re.compile(r"^\d{6}$")


def twofactor_required(user: Any) -> bool:
    """Superusers and operators while STAFF_2FA_REQUIRED is on; whoever enrolled a device always."""
    if not user.is_authenticated:
        return False
    if settings.STAFF_2FA_REQUIRED and (user.is_superuser or user.groups.filter(name=OPERATORS).exists()):
        return True
    return django_otp.user_has_device(user)


# Sign-ins with a password checked here. Single sign-on backends leave the second factor to the
# identity provider: their sessions are never asked.
LOCAL_LOGIN_BACKENDS = (
    "core.sso.LocalPasswordBackend",
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
)


def _local_login(request: HttpRequest) -> bool:
    return request.session.get(BACKEND_SESSION_KEY, LOCAL_LOGIN_BACKENDS[0]) in LOCAL_LOGIN_BACKENDS


def twofactor_judge(request: HttpRequest, user: Any) -> None:
    """At sign-in (user_logged_in): does this session owe a second factor?"""
    request.session[REQUIRED_SESSION_KEY] = _local_login(request) and twofactor_required(user)


def twofactor_pending(request: HttpRequest) -> bool:
    """A signed-in session that owes a second factor and has not given one yet."""
    user = request.user
    if not user.is_authenticated:
        return False
    required = request.session.get(REQUIRED_SESSION_KEY)
    if required is None:
        # A session from before this rule: judged on its first request.
        twofactor_judge(request, user)
        required = request.session[REQUIRED_SESSION_KEY]
    if not required or _is_verified(user):
        return False
    # Owed and not given: judged again (a reset may have removed the reason), at a query or two on
    # these few requests only.
    twofactor_judge(request, user)
    return bool(request.session[REQUIRED_SESSION_KEY])


def _is_verified(user: Any) -> bool:
    is_verified = getattr(user, "is_verified", None)
    return bool(is_verified()) if callable(is_verified) else False


def has_device(user: Any) -> bool:
    return django_otp.user_has_device(user)


@dataclass(frozen=True)
class CodeCheck:
    device: Device | None
    error: str = ""
    retry_after: int = 0


def second_factor_check(request: HttpRequest, *, code: str, context: str) -> CodeCheck:
    """Check a TOTP code (six digits) or a backup code against the signed-in user's devices.

    A backup code works once (django-otp deletes it). A device that refused recent codes refuses
    every code until its back-off has passed, the right one included. Sends
    second_factor_verified / second_factor_failed.
    """
    user = request.user
    code = "".join(code.split()).lower()
    model: type[Device] = TOTPDevice if _TOTP_FORMAT.match(code) else StaticDevice
    devices = list(model.objects.devices_for_user(user, confirmed=True))  # type: ignore[attr-defined]
    for device in devices:
        allowed, data = device.verify_is_allowed()
        if not allowed:
            locked_until = (data or {}).get("locked_until") or timezone.now()
            wait = max(1, math.ceil((locked_until - timezone.now()).total_seconds()))
            _failed(request, reason="throttled", context=context)
            return CodeCheck(None, f"Too many wrong codes: wait {wait} seconds, then try again.", retry_after=wait)
    for device in devices:
        verified = django_otp.verify_token(user, device.persistent_id, code) if code else None
        if verified is not None:
            second_factor_verified.send(
                sender=context, request=request, user=user, kind="totp" if model is TOTPDevice else "backup_code"
            )
            return CodeCheck(verified)
    _failed(request, reason="wrong_code", context=context)
    return CodeCheck(None, "That code is not right. Enter the current code from your authenticator app, or a backup code.")


def _failed(request: HttpRequest, *, reason: str, context: str) -> None:
    login_failure_count(door="admin")
    second_factor_failed.send(sender=context, request=request, user=request.user, reason=reason)


def second_factor_login(request: HttpRequest, device: Device) -> None:
    """The session has given its second factor (django-otp keeps the device in the session)."""
    django_otp.login(request, device)
    request.session[REQUIRED_SESSION_KEY] = True


def totp_device_start(user: Any) -> TOTPDevice:
    """A fresh, unconfirmed TOTP device: its secret is shown on the enrolment page and nowhere
    else. Any earlier unconfirmed one goes (a reloaded page shows a new secret)."""
    TOTPDevice.objects.filter(user=user, confirmed=False).delete()
    return TOTPDevice.objects.create(user=user, name=TOTP_DEVICE_NAME, confirmed=False)


def totp_device_pending(user: Any) -> TOTPDevice | None:
    return TOTPDevice.objects.filter(user=user, confirmed=False).order_by("-pk").first()


@transaction.atomic
def totp_device_confirm(request: HttpRequest, *, device: TOTPDevice, code: str) -> list[str] | None:
    """Confirm an enrolment with the first code from the app. Returns the new backup codes (the
    only time they are shown), or None when the code is wrong."""
    code = "".join(code.split())
    if not _TOTP_FORMAT.match(code) or not device.verify_token(code):
        _failed(request, reason="wrong_code", context="enroll")
        return None
    device.confirmed = True
    device.save(update_fields=["confirmed"])
    StaticDevice.objects.filter(user=device.user).delete()
    backup = StaticDevice.objects.create(user=device.user, name=BACKUP_DEVICE_NAME, confirmed=True)
    codes = [StaticToken.random_token() for _ in range(BACKUP_CODE_COUNT)]
    StaticToken.objects.bulk_create([StaticToken(device=backup, token=token) for token in codes])
    second_factor_login(request, device)
    second_factor_enrolled.send(sender="enroll", request=request, user=device.user, backup_codes=len(codes))
    return codes


def twofactor_url(request: HttpRequest, *, next_url: str) -> str:
    """Where a session that owes a code goes: the verify page, or enrolment without a device."""
    name = "admin:twofactor_verify" if has_device(request.user) else "admin:twofactor_enroll"
    return f"{reverse(name)}?{urlencode({'next': next_url})}"


class TwoFactorMiddleware:
    """A signed-in session that owes a second factor reaches the verify and enrolment pages (and
    logout) only: other admin pages redirect there, the API answers 403 JSON. Requests without a
    session cookie (API tokens, monitors) are not looked at."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_view(
        self, request: HttpRequest, view: Callable[..., HttpResponse], args: Any, kwargs: Any
    ) -> HttpResponse | None:
        match = request.resolver_match
        if match is not None and match.url_name in MONITOR_URLS:
            return None  # answered to monitors, never about a person (and up while the database is not)
        if settings.SESSION_COOKIE_NAME not in request.COOKIES or not twofactor_pending(request):
            return None
        if match is not None and "admin" in match.namespaces and match.url_name in OPEN_ADMIN_URLS:
            return None
        if request.path.startswith(ApiJsonErrorsMiddleware.PREFIX):
            return JsonResponse({"detail": VERIFY_NEEDED_MESSAGE, "errors": {}}, status=403)
        return HttpResponseRedirect(twofactor_url(request, next_url=request.get_full_path()))
