"""Every API error is JSON `{"detail": ..., "errors": {field: [...]}}`."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.core.exceptions import RequestDataTooBig, TooManyFieldsSent
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import InterfaceError, OperationalError
from django.http import HttpRequest, HttpResponse, JsonResponse
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from core.errors import Unavailable


class PayloadTooLarge(exceptions.APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_detail = "Request body too large."
    default_code = "payload_too_large"


class TryAgainLater(exceptions.APIException):
    status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    default_detail = "A dependency is unavailable; try again."
    default_code = "unavailable"


# Redis or PostgreSQL away for a moment (a restart, a failover) while a request needed them.
STORE_AWAY = (RedisConnectionError, RedisTimeoutError, OperationalError, InterfaceError)


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    retry_after = None
    if isinstance(exc, Unavailable):
        retry_after = exc.retry_after_seconds
        exc = TryAgainLater(f"{exc} Nothing was done; send the same request again.")
    elif isinstance(exc, STORE_AWAY):
        # Found by the chaos soak: a queue's resume during a Redis restart answered an HTML 500.
        # The doors are idempotent: the same request sent again finishes what this one began.
        retry_after = Unavailable.retry_after_seconds
        exc = TryAgainLater(f"A data store is unavailable for the moment ({type(exc).__name__}); send the same request again.")
    # Django raises these while DRF reads the body; unhandled they become an HTML 400 page.
    if isinstance(exc, RequestDataTooBig):
        exc = PayloadTooLarge(f"Request body exceeds {settings.DATA_UPLOAD_MAX_MEMORY_SIZE} bytes (DATA_UPLOAD_MAX_MEMORY_SIZE).")
    elif isinstance(exc, TooManyFieldsSent):
        exc = exceptions.ParseError("Too many fields in the request (DATA_UPLOAD_MAX_NUMBER_FIELDS).")
    if isinstance(exc, DjangoValidationError):
        exc = exceptions.ValidationError(exc.message_dict if hasattr(exc, "error_dict") else {"non_field_errors": exc.messages})
    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    data = response.data
    if isinstance(exc, exceptions.ValidationError):
        errors = data if isinstance(data, dict) else {"non_field_errors": data}
        response.data = {"detail": "Invalid input.", "errors": errors}
    elif isinstance(data, dict) and "detail" in data:
        response.data = {"detail": str(data["detail"]), "errors": {}}
    else:
        response.data = {"detail": "Request failed.", "errors": {"non_field_errors": data}}
    if response.status_code == status.HTTP_401_UNAUTHORIZED and "WWW-Authenticate" not in response:
        response["WWW-Authenticate"] = "Token"
    if retry_after is not None:
        response["Retry-After"] = str(retry_after)
    return response


class ApiJsonErrorsMiddleware:
    """Under /api/, a 404, 405 or 406 that no DRF JSON view shaped (an unmatched path, a plain
    Django view's wrong method, a view that renders only HTML or YAML asked for something else)
    answers the same JSON as every other API error; other paths keep Django's pages.

    Sits outside CommonMiddleware, so APPEND_SLASH still redirects a path that only lacks its slash.
    """

    PREFIX = "/api/"

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if not request.path.startswith(self.PREFIX) or response.status_code not in (404, 405, 406):
            return response
        if response.get("Content-Type", "").startswith("application/json"):
            return response
        if response.status_code == 404:
            detail = str(exceptions.NotFound.default_detail)
        elif response.status_code == 405:
            detail = str(exceptions.MethodNotAllowed(request.method or "").detail)
        else:
            detail = str(exceptions.NotAcceptable.default_detail)
        shaped = JsonResponse({"detail": detail, "errors": {}}, status=response.status_code)
        if response.has_header("Allow"):
            shaped["Allow"] = response["Allow"]
        return shaped
