"""The admin's two-factor pages (core.twofactor): verify a code after the password, and enrol an
authenticator app (the secret and the backup codes are shown once, on these pages only)."""

from __future__ import annotations

import base64
from typing import Any

import segno
from django.contrib.admin import AdminSite
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme

from core.stepup import auth_stamp
from core.twofactor import (
    has_device,
    second_factor_check,
    second_factor_login,
    totp_device_confirm,
    totp_device_pending,
    totp_device_start,
    twofactor_url,
)


def _next_url(site: AdminSite, request: HttpRequest) -> str:
    next_url = request.POST.get("next") or request.GET.get("next") or ""
    if not url_has_allowed_host_and_scheme(next_url, allowed_hosts={request.get_host()}, require_https=request.is_secure()):
        next_url = reverse("admin:index", current_app=site.name)
    return next_url


def verify_view(site: AdminSite, request: HttpRequest) -> HttpResponse:
    next_url = _next_url(site, request)
    if not has_device(request.user):
        return HttpResponseRedirect(twofactor_url(request, next_url=next_url))
    error, status = "", 200
    if request.method == "POST":
        result = second_factor_check(request, code=request.POST.get("code", ""), context="login")
        if result.device is not None:
            second_factor_login(request, result.device)
            auth_stamp(request)
            return HttpResponseRedirect(next_url)
        error, status = result.error, 429 if result.retry_after else 400
    context = {**site.each_context(request), "title": "Two-factor verification", "next_url": next_url, "error": error}
    response = TemplateResponse(request, "admin/twofactor/verify.html", context, status=status)
    if status == 429:
        response["Retry-After"] = str(result.retry_after)
    return response


def enroll_view(site: AdminSite, request: HttpRequest) -> HttpResponse:
    next_url = _next_url(site, request)
    if has_device(request.user):
        return HttpResponseRedirect(twofactor_url(request, next_url=next_url))
    error, status = "", 200
    device = totp_device_pending(request.user) if request.method == "POST" else None
    if device is not None:
        codes = totp_device_confirm(request, device=device, code=request.POST.get("code", ""))
        if codes is not None:
            auth_stamp(request)
            context = {**site.each_context(request), "title": "Backup codes", "codes": codes, "next_url": next_url}
            return TemplateResponse(request, "admin/twofactor/backup_codes.html", context)
        error, status = "That code is not right. Check the app shows opsconsole and try the current code.", 400
    if device is None:
        device = totp_device_start(request.user)
    context = {
        **site.each_context(request),
        "title": "Set up two-factor",
        "next_url": next_url,
        "error": error,
        **_secret_context(device),
    }
    return TemplateResponse(request, "admin/twofactor/enroll.html", context, status=status)


def _secret_context(device: Any) -> dict[str, str]:
    uri = device.config_url
    secret = base64.b32encode(device.bin_key).decode()
    return {
        "otpauth_uri": uri,
        "secret": " ".join(secret[i : i + 4] for i in range(0, len(secret), 4)),
        "qr_svg": segno.make(uri, error="m").svg_inline(scale=4),
    }
