"""A request id on every web log line and response, carried into the tasks a request queues."""

from __future__ import annotations

import re
import uuid
import zoneinfo
from collections.abc import Callable
from typing import Any

from django.http import HttpRequest, HttpResponse
from django.utils import timezone

from core.logging import log_context

_SAFE_ID = re.compile(r"^[A-Za-z0-9._-]{8,64}$")


class RequestIdMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        incoming = request.headers.get("X-Request-ID", "")
        # Accept a caller's id only when it is a plain token: it ends up in logs.
        request_id = incoming if _SAFE_ID.match(incoming) else uuid.uuid4().hex
        request.request_id = request_id  # type: ignore[attr-defined]
        token = log_context.set({"request_id": request_id})
        try:
            response = self.get_response(request)
        finally:
            log_context.reset(token)
        response["X-Request-ID"] = request_id
        return response


class DisplayTimeZoneMiddleware:
    """Admin pages render times in the staff user's chosen zone (default UTC). Only the admin:
    the API's DRF fields would follow the active zone, and the API answers in UTC."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        try:
            return self.get_response(request)
        finally:
            timezone.deactivate()

    def process_view(self, request: HttpRequest, view: Callable[..., HttpResponse], args: Any, kwargs: Any) -> None:
        match = request.resolver_match
        if match is None or "admin" not in match.app_names or not request.user.is_authenticated:
            return
        from core.preferences import display_time_zone

        timezone.activate(zoneinfo.ZoneInfo(display_time_zone(request)))
