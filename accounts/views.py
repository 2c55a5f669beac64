"""The OAuth callback: where Spotify sends the account's owner back (no staff login: the
single-use `state` in the query is the credential)."""

from __future__ import annotations

from django.http import HttpRequest
from django.template.response import TemplateResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from accounts.oauth import authorization_complete


@never_cache
@require_GET
def spotify_callback(request: HttpRequest) -> TemplateResponse:
    outcome = authorization_complete(
        state=request.GET.get("state", ""), code=request.GET.get("code", ""), error=request.GET.get("error", "")
    )
    response = TemplateResponse(
        request,
        "accounts/oauth_callback.html",
        {"outcome": outcome, "account": outcome.account},
        status=outcome.status_code,
    )
    # The code and state are in this page's URL: no Referer carries them anywhere else.
    response["Referrer-Policy"] = "no-referrer"
    return response
