"""A request id on every web log line and response, carried into the tasks a request queues;
the API's responses counted by status class; admin pages in the staff user's time zone."""

from __future__ import annotations

import re
import uuid
import zoneinfo
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.http import HttpRequest, HttpResponse
from django.utils import timezone

from core.api_errors import ApiJsonErrorsMiddleware
from core.counters import counter_inc_minutely, counter_window
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


# The API error rate is read over the last this many minutes (alert condition and /metrics alike).
API_RESPONSES_WINDOW_MINUTES = 5
_API_RESPONSES_COUNTER = "api_responses"


class ApiResponseCountMiddleware:
    """Counts each response under /api/ by status class in per-minute Redis buckets, so the
    API's 5xx rate (the APIGatewayErrorRateHigh alert) covers every web process. Sits outside
    the other middleware: an exception a view raised is already its 500 response here."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if request.path.startswith(ApiJsonErrorsMiddleware.PREFIX):
            # The answer is ready: losing one count is better than failing it.
            counter_inc_minutely(_API_RESPONSES_COUNTER, best_effort=True, status_class=f"{response.status_code // 100}xx")
        return response


@dataclass(frozen=True)
class ResponseRate:
    """Responses under /api/ within the window, by status class ("2xx", "4xx", "5xx"...)."""

    by_class: dict[str, int]

    @property
    def total(self) -> int:
        return sum(self.by_class.values())

    @property
    def error_ratio(self) -> float | None:
        return self.by_class.get("5xx", 0) / self.total if self.total else None


def api_response_rate(*, minutes: int = API_RESPONSES_WINDOW_MINUTES) -> ResponseRate:
    """The API's responses over the current minute and the `minutes - 1` before it."""
    return ResponseRate(
        {labels["status_class"]: int(value) for labels, value in counter_window(_API_RESPONSES_COUNTER, minutes=minutes)}
    )


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
