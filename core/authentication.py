"""API tokens (core.models.ApiToken): `Token <key>` as DRF has it, `Bearer <key>` as automation
sends it, looked up by the key's SHA-256 digest and cached briefly.

Looking the token and its user up on every request, and the permission asking for the user's
groups, cost two queries and ~1 ms of ORM per API call (bench `api.token_cache`). Each process
keeps digest -> (user, token, group names) for API_TOKEN_CACHE_SECONDS. Whatever could take
access away — a token revoked, created or deleted, a user saved (is_active, is_staff) or
deleted, a group membership or a group changed — bumps an epoch in Redis; every request
compares the epoch (one GET) and a process that sees it move forgets everything it cached, so a
revoked token answers 401 on its next request in every process. Without Redis nothing is cached.
Expiry is checked on every request, cached or not; `last_used_at` is written at most once a
LAST_USED_PRECISION per token and process (a queryset update: no signal, no epoch bump).
"""

from __future__ import annotations

import copy
import logging
import threading
import time
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models.signals import m2m_changed, post_delete, post_save
from django.utils import timezone
from rest_framework import exceptions, status
from rest_framework.authentication import TokenAuthentication

from core.models import ApiToken
from core.permissions import GROUP_NAMES_ATTR
from core.redis import get_redis, key

logger = logging.getLogger(__name__)


LAST_USED_PRECISION = timedelta(minutes=1)


class TokenRefused(exceptions.APIException):
    """A real token that no longer opens the API (revoked or expired): 401 with the reason.

    Not an AuthenticationFailed, which DRF turns into 403 behind SessionAuthentication, and
    which the lockout counts as a guess: using a once-valid key is not guessing one."""

    status_code = status.HTTP_401_UNAUTHORIZED
    default_detail = "This API token no longer opens the API."
    default_code = "token_refused"


def token_refusal(token: ApiToken, now: datetime) -> str | None:
    """Why `token` is refused at `now`, or None when it is good."""
    if token.revoked_at is not None:
        return "This API token was revoked. Ask for a new one (manage.py create_api_token)."
    if token.expires_at is not None and token.expires_at <= now:
        when = token.expires_at.strftime("%Y-%m-%d %H:%M UTC")
        return f"This API token expired at {when}. Ask for a new one (manage.py create_api_token)."
    return None


class TokenCache:
    """Per-process digest -> (user, token, group names, expiry), dropped when the Redis epoch moves."""

    MAX_ENTRIES = 1000

    def __init__(self) -> None:
        self._entries: dict[str, tuple[Any, Any, frozenset[str], float]] = {}
        self._epoch: str | None = None
        self._lock = threading.Lock()

    @staticmethod
    def _epoch_key() -> str:
        return key("auth", "epoch")

    def _current_epoch(self) -> str | None:
        """The shared epoch ("0" before any change); None when Redis cannot say (then: no cache)."""
        try:
            return str(get_redis().get(self._epoch_key()) or "0")
        except Exception:  # Redis down: authenticate against the database as before
            logger.warning("token cache: Redis unavailable, not caching", exc_info=True)
            return None

    def get(self, digest: str) -> tuple[Any, Any] | None:
        if float(settings.API_TOKEN_CACHE_SECONDS) <= 0:
            return None
        epoch = self._current_epoch()
        with self._lock:
            if epoch is None or epoch != self._epoch:
                self._entries.clear()
                self._epoch = epoch
                return None
            entry = self._entries.get(digest)
            if entry is None:
                return None
            user, token, groups, expires = entry
            if time.monotonic() >= expires:
                del self._entries[digest]
                return None
        # A copy per request: views may set attributes on request.user; the cached one stays clean.
        user = copy.copy(user)
        setattr(user, GROUP_NAMES_ATTR, groups)
        return user, token

    def put(self, digest: str, user: Any, token: Any, groups: frozenset[str], *, epoch: str | None) -> None:
        ttl = float(settings.API_TOKEN_CACHE_SECONDS)
        if ttl <= 0 or epoch is None:
            return
        with self._lock:
            # An epoch that moved while we read the database: the rows read may be the old ones.
            if epoch != self._epoch:
                return
            if len(self._entries) >= self.MAX_ENTRIES:
                self._entries.clear()
            self._entries[digest] = (user, token, groups, time.monotonic() + ttl)

    def forget_all(self) -> None:
        with self._lock:
            self._entries.clear()

    def invalidate(self) -> None:
        """Every process forgets its cached tokens (this one at once, the others on their next request)."""
        self.forget_all()
        try:
            get_redis().incr(self._epoch_key())
        except Exception:  # entries still expire after API_TOKEN_CACHE_SECONDS
            logger.warning("token cache: could not bump the epoch", exc_info=True)


token_cache = TokenCache()


class TokenOrBearerAuthentication(TokenAuthentication):
    """`Authorization: Token <key>` as DRF has it, and `Bearer <key>` as automation sends it.

    DRF's header parsing, our lookup: its authtoken model (plain keys) is never used."""

    def authenticate(self, request):  # type: ignore[no-untyped-def]
        header = request.META.get("HTTP_AUTHORIZATION", "")
        if header.lower().startswith("bearer "):
            self.keyword = "Bearer"
        else:
            self.keyword = "Token"
        return super().authenticate(request)

    def authenticate_credentials(self, key):  # type: ignore[no-untyped-def]
        digest = ApiToken.digest_of(key)
        cached = token_cache.get(digest)
        if cached is not None:
            user, token = cached
        else:
            epoch = token_cache._epoch
            token = ApiToken.objects.select_related("user").filter(digest=digest).first()
            if token is None:
                raise exceptions.AuthenticationFailed("Invalid token.")
            user = token.user
            groups = frozenset() if user.is_superuser else frozenset(user.groups.values_list("name", flat=True))
            token_cache.put(digest, user, token, groups, epoch=epoch)
            user = copy.copy(user)
            setattr(user, GROUP_NAMES_ATTR, groups)
        now = timezone.now()
        refusal = token_refusal(token, now)
        if refusal:
            raise TokenRefused(refusal)
        if not user.is_active:
            raise exceptions.AuthenticationFailed("User inactive or deleted.")
        _touch(token, now)
        return user, token


def _touch(token: ApiToken, now: datetime) -> None:
    """`last_used_at`, to the minute: one UPDATE per token and minute, not one per request."""
    if token.last_used_at is not None and now - token.last_used_at < LAST_USED_PRECISION:
        return
    # Set first: the cached token is shared by this process's requests, one write is enough.
    token.last_used_at = now
    ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)


def _access_changed(update_fields: frozenset[str] | None = None, **_: object) -> None:
    if update_fields is not None and set(update_fields) <= {"last_login"}:
        return  # a login changes no one's access
    token_cache.invalidate()
    # Again once the change is visible to other connections: a process that re-read the old
    # rows between the first bump and the commit drops them now.
    transaction.on_commit(token_cache.invalidate)


def _groups_changed(sender: Any, action: str = "", **_: object) -> None:
    if action.startswith("post_") and getattr(sender, "_meta", None) and sender._meta.label_lower == "auth.user_groups":
        _access_changed()


# Lazy senders ("app_label.Model"): connecting works before the app registry is ready.
for _signal, _sender in (
    (post_delete, "opsconsole.ApiToken"),
    (post_save, "opsconsole.ApiToken"),
    (post_save, settings.AUTH_USER_MODEL),
    (post_delete, settings.AUTH_USER_MODEL),
    (post_save, "auth.Group"),
    (post_delete, "auth.Group"),
):
    _signal.connect(_access_changed, sender=_sender, weak=False, dispatch_uid=f"token-cache-{_signal!r}-{_sender}")
m2m_changed.connect(_groups_changed, weak=False, dispatch_uid="token-cache-user-groups")
