"""API tokens: `Token <key>` as DRF has it, `Bearer <key>` as automation sends it, cached briefly.

DRF looks the token and its user up on every request, and the permission asks for the user's
groups: two queries and ~1 ms of ORM per API call (bench: a third of a 50-row page's database
time). Each process keeps key -> (user, group names) for API_TOKEN_CACHE_SECONDS. Whatever could
take access away — a token deleted or replaced, a user saved (is_active, is_staff) or deleted,
a group membership or a group changed — bumps an epoch in Redis; every request compares the
epoch (one GET) and a process that sees it move forgets everything it cached, so a revoked
token answers 401 on its next request in every process. Without Redis nothing is cached.
"""

from __future__ import annotations

import copy
import logging
import threading
import time
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models.signals import m2m_changed, post_delete, post_save
from rest_framework.authentication import TokenAuthentication

from core.permissions import GROUP_NAMES_ATTR
from core.redis import get_redis, key

logger = logging.getLogger(__name__)


class TokenCache:
    """Per-process key -> (user, token, group names, expiry), dropped when the Redis epoch moves."""

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

    def get(self, token_key: str) -> tuple[Any, Any] | None:
        if float(settings.API_TOKEN_CACHE_SECONDS) <= 0:
            return None
        epoch = self._current_epoch()
        with self._lock:
            if epoch is None or epoch != self._epoch:
                self._entries.clear()
                self._epoch = epoch
                return None
            entry = self._entries.get(token_key)
            if entry is None:
                return None
            user, token, groups, expires = entry
            if time.monotonic() >= expires:
                del self._entries[token_key]
                return None
        # A copy per request: views may set attributes on request.user; the cached one stays clean.
        user = copy.copy(user)
        setattr(user, GROUP_NAMES_ATTR, groups)
        return user, token

    def put(self, token_key: str, user: Any, token: Any, groups: frozenset[str], *, epoch: str | None) -> None:
        ttl = float(settings.API_TOKEN_CACHE_SECONDS)
        if ttl <= 0 or epoch is None:
            return
        with self._lock:
            # An epoch that moved while we read the database: the rows read may be the old ones.
            if epoch != self._epoch:
                return
            if len(self._entries) >= self.MAX_ENTRIES:
                self._entries.clear()
            self._entries[token_key] = (user, token, groups, time.monotonic() + ttl)

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
    """`Authorization: Token <key>` as DRF has it, and `Bearer <key>` as automation sends it."""

    def authenticate(self, request):  # type: ignore[no-untyped-def]
        header = request.META.get("HTTP_AUTHORIZATION", "")
        if header.lower().startswith("bearer "):
            self.keyword = "Bearer"
        else:
            self.keyword = "Token"
        return super().authenticate(request)

    def authenticate_credentials(self, key):  # type: ignore[no-untyped-def]
        cached = token_cache.get(key)
        if cached is not None:
            return cached
        epoch = token_cache._epoch
        user, token = super().authenticate_credentials(key)
        groups = frozenset() if user.is_superuser else frozenset(user.groups.values_list("name", flat=True))
        token_cache.put(key, user, token, groups, epoch=epoch)
        user = copy.copy(user)
        setattr(user, GROUP_NAMES_ATTR, groups)
        return user, token


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
    (post_delete, "authtoken.Token"),
    (post_save, "authtoken.Token"),
    (post_save, settings.AUTH_USER_MODEL),
    (post_delete, settings.AUTH_USER_MODEL),
    (post_save, "auth.Group"),
    (post_delete, "auth.Group"),
):
    _signal.connect(_access_changed, sender=_sender, weak=False, dispatch_uid=f"token-cache-{_signal!r}-{_sender}")
m2m_changed.connect(_groups_changed, weak=False, dispatch_uid="token-cache-user-groups")
