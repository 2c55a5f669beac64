"""The console's URLs plus two API views for the API error-rate test: one answers, one raises."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.urls import include, path


def _ok(request: HttpRequest) -> HttpResponse:
    return HttpResponse("ok")


def _boom(request: HttpRequest) -> HttpResponse:
    raise RuntimeError("boom: an unhandled error in an API view")


urlpatterns = [
    path("api/test/ok", _ok),
    path("api/test/boom", _boom),
    path("", include("opsconsole.urls")),
]
