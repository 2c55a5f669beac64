"""Spotify's token endpoint, called with `requests` directly.

spotipy's OAuth managers are never used: when their cache lacks a token they fall back to
an interactive browser/input() flow, which hangs a worker. Tokens and secrets never reach
a log line or an exception message.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import requests
from django.conf import settings

from opsconsole.counters import counter_inc
from opsconsole.spotify.breaker import breaker_check, breaker_failure, breaker_release_probe, breaker_success
from opsconsole.spotify.config import OperationLimits, default_limits
from opsconsole.spotify.errors import (
    CircuitOpen,
    SpotifyAuthError,
    SpotifyError,
    SpotifyInvalidGrant,
    SpotifyRateLimited,
    SpotifyServerError,
)
from opsconsole.spotify.retry import backoff_seconds, pause, retry_after_seconds
from opsconsole.spotify.telemetry import telemetry_record

ENDPOINT = "token"
BREAKER = "spotify.token"


@dataclass
class TokenGrant:
    # repr=False: a grant that ends up in a log or traceback shows no token.
    access_token: str = field(repr=False)
    refresh_token: str | None = field(repr=False)
    expires_in: int
    scope: str


def request_token_refresh(
    *, client_id: str, client_secret: str, refresh_token: str, limits: OperationLimits | None = None
) -> TokenGrant:
    """Refreshing tokens (Authorization Code flow): grant_type=refresh_token.

    The grant's refresh_token is None when Spotify kept the old one (the caller keeps it).
    Raises SpotifyInvalidGrant when the refresh token is revoked or past its 6 months.
    """
    return _token_request(
        {"grant_type": "refresh_token", "refresh_token": refresh_token},
        client_id=client_id,
        client_secret=client_secret,
        secrets=(refresh_token, client_secret),
        limits=limits or default_limits(),
    )


def request_client_credentials(*, client_id: str, client_secret: str, limits: OperationLimits | None = None) -> TokenGrant:
    """Client Credentials flow: an app token for catalog reads (no user). `limits`: the
    `spotify.token` connector's timeout/attempts/cooldown (settings when not given)."""
    return _token_request(
        {"grant_type": "client_credentials"},
        client_id=client_id,
        client_secret=client_secret,
        secrets=(client_secret,),
        limits=limits or default_limits(),
    )


def _scrub(text: str, secrets: tuple[str, ...]) -> str:
    for secret in secrets:
        if secret:
            text = text.replace(secret, "[redacted]")
    return text[:300]


def _token_request(
    form: dict[str, str], *, client_id: str, client_secret: str, secrets: tuple[str, ...], limits: OperationLimits
) -> TokenGrant:
    telemetry_record(source="spotify", operation="token", outcome="started")
    started = time.monotonic()
    try:
        breaker_check(BREAKER, endpoint=ENDPOINT)
    except CircuitOpen as exc:
        telemetry_record(source="spotify", operation="token", outcome="skipped", error=str(exc))
        raise
    try:
        grant = _attempts(form, client_id=client_id, client_secret=client_secret, secrets=secrets, limits=limits)
    except SpotifyServerError as exc:
        breaker_failure(BREAKER, error=str(exc), base_cooldown=limits.cooldown_seconds)
        telemetry_record(
            source="spotify",
            operation="token",
            outcome="failed",
            error=str(exc),
            latency_ms=(time.monotonic() - started) * 1000,
        )
        raise
    except SpotifyError as exc:
        if isinstance(exc, SpotifyRateLimited):
            breaker_release_probe(BREAKER)
        else:
            breaker_success(BREAKER)  # the endpoint answered; the request was the problem
        telemetry_record(
            source="spotify",
            operation="token",
            outcome="failed",
            error=str(exc),
            latency_ms=(time.monotonic() - started) * 1000,
        )
        raise
    breaker_success(BREAKER)
    telemetry_record(source="spotify", operation="token", outcome="succeeded", latency_ms=(time.monotonic() - started) * 1000)
    return grant


def _attempts(
    form: dict[str, str], *, client_id: str, client_secret: str, secrets: tuple[str, ...], limits: OperationLimits
) -> TokenGrant:
    url = f"{settings.SPOTIFY_ACCOUNTS_URL}api/token"
    max_attempts = int(limits.max_attempts)
    ceiling = float(settings.SPOTIFY_MAX_SLEEP_SECONDS)
    attempt = 0
    while True:
        attempt += 1
        counter_inc("spotify_requests_total", endpoint=ENDPOINT)
        try:
            response = requests.post(url, data=form, auth=(client_id, client_secret), timeout=float(limits.timeout_seconds))
        except requests.RequestException as exc:
            kind = "timeout" if isinstance(exc, requests.Timeout) else "connection"
            if attempt >= max_attempts:
                raise SpotifyServerError(
                    f"token: {kind} error after {attempt} attempts: {type(exc).__name__}", endpoint=ENDPOINT
                ) from None
            counter_inc("spotify_retries_total", status=kind)
            pause(backoff_seconds(attempt), reason=kind, endpoint=ENDPOINT, attempt=attempt)
            continue
        status = response.status_code
        counter_inc("spotify_responses_total", endpoint=ENDPOINT, status=str(status))
        if status == 200:
            body = response.json()
            return TokenGrant(
                access_token=str(body["access_token"]),
                refresh_token=body.get("refresh_token") or None,
                expires_in=int(body.get("expires_in") or 3600),
                scope=str(body.get("scope") or ""),
            )
        if status == 429:
            retry_after = retry_after_seconds(response.headers)
            wait = retry_after if retry_after is not None else backoff_seconds(attempt)
            if (retry_after is not None and retry_after > ceiling) or attempt >= max_attempts:
                raise SpotifyRateLimited(f"token: HTTP 429, retry after {wait:.1f}s", retry_after=wait, endpoint=ENDPOINT)
            counter_inc("spotify_retries_total", status="429")
            pause(wait, reason="429", endpoint=ENDPOINT, attempt=attempt)
            continue
        if status >= 500:
            if attempt >= max_attempts:
                raise SpotifyServerError(f"token: HTTP {status} after {attempt} attempts", status=status, endpoint=ENDPOINT)
            counter_inc("spotify_retries_total", status=str(status))
            pause(backoff_seconds(attempt), reason=str(status), endpoint=ENDPOINT, attempt=attempt)
            continue
        try:
            body = response.json()
        except ValueError:
            body = {}
        error = _scrub(str(body.get("error") or ""), secrets) if isinstance(body, dict) else ""
        description = _scrub(str(body.get("error_description") or ""), secrets) if isinstance(body, dict) else ""
        message = f"token: HTTP {status}: {error or 'error'}" + (f" ({description})" if description else "")
        if error == "invalid_grant":
            raise SpotifyInvalidGrant(message, status=status, endpoint=ENDPOINT)
        raise SpotifyAuthError(message, status=status, endpoint=ENDPOINT)
