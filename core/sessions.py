"""Staff sessions end after SESSION_IDLE_MINUTES without a request, and SESSION_COOKIE_AGE after
the login whatever the activity (docs/runbooks/staff-access.md).

Django's own expiry is the cookie age counted from the session's last save: saving on every
request would make it an idle timeout that never ends a busy day, so the login time is kept in
the session and the session expires at login + SESSION_COOKIE_AGE. The last request's time is
written at most once a minute: a page's dozen requests cost no dozen session writes.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime

from django.conf import settings
from django.contrib.auth import logout
from django.db import DatabaseError
from django.http import HttpRequest, HttpResponse

_STARTED = "ops_session_started"
_SEEN = "ops_session_seen"
_SEEN_RESOLUTION_SECONDS = 60


def session_stamp_login(request: HttpRequest) -> None:
    """At login (user_logged_in): the session ends SESSION_COOKIE_AGE from now, and its first
    pages write nothing more to it."""
    now = time.time()
    request.session[_STARTED] = request.session[_SEEN] = now
    request.session.set_expiry(datetime.fromtimestamp(now + settings.SESSION_COOKIE_AGE, tz=UTC))


class IdleTimeoutMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        # No session cookie (monitors, API tokens): nothing to time out, and no session read, so
        # /health still answers 503 rather than 500 while the database is down.
        if settings.SESSION_COOKIE_NAME in request.COOKIES:
            try:
                user = getattr(request, "user", None)
                if user is not None and user.is_authenticated:
                    self._check(request)
            except DatabaseError:
                pass  # the view meets the same outage and answers it as it does
        return self.get_response(request)

    @staticmethod
    def _check(request: HttpRequest) -> None:
        session = request.session
        now = time.time()
        started = session.get(_STARTED)
        if started is None:
            # A session from before the stamp at login: it ends SESSION_COOKIE_AGE from now.
            session[_STARTED] = started = now
            session.set_expiry(datetime.fromtimestamp(now + settings.SESSION_COOKIE_AGE, tz=UTC))
        seen = session.get(_SEEN, started)
        if now - seen > settings.SESSION_IDLE_MINUTES * 60 or now - started > settings.SESSION_COOKIE_AGE:
            # The view then sees an anonymous user: the admin sends them to its login page.
            logout(request)
            return
        if now - seen >= _SEEN_RESOLUTION_SECONDS or _SEEN not in session:
            session[_SEEN] = now
