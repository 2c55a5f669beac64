"""Spotify's accounts service: the token endpoint, and the Authorization Code flow with PKCE.

Refresh and client credentials are called with `requests` directly; the Authorization Code
flow (authorize URL with an S256 challenge, the code exchange) goes through Authlib's OAuth 2
client. spotipy's OAuth managers are never used: when their cache lacks a token they fall
back to an interactive browser/input() flow, which hangs a worker. Tokens, verifiers and
secrets never reach a log line or an exception message.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import requests
from authlib.common.security import generate_token
from authlib.integrations.requests_client import OAuth2Session, OAuthError
from django.conf import settings

from core.counters import counter_inc
from spotify.breaker import breaker_check, breaker_failure, breaker_release_probe, breaker_success
from spotify.config import OperationLimits, default_limits
from spotify.errors import (
    CircuitOpen,
    SpotifyAuthError,
    SpotifyError,
    SpotifyInvalidGrant,
    SpotifyRateLimited,
    SpotifyServerError,
)
from spotify.retry import backoff_seconds, pause, retry_after_seconds
from spotify.telemetry import telemetry_record

ENDPOINT = "token"
BREAKER = "spotify.token"
# What the console needs to manage an account's playlists (Spotify's scope names).
REQUIRED_SCOPES = ("playlist-modify-private", "playlist-modify-public", "playlist-read-private")


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


def new_code_verifier() -> str:
    """A PKCE code verifier: 64 characters from [A-Za-z0-9] (RFC 7636 asks for 43 to 128)."""
    return generate_token(64)


def authorize_url(
    *, client_id: str, redirect_uri: str, scope: str, state: str, code_verifier: str, show_dialog: bool = False
) -> str:
    """Spotify's `GET /authorize` URL (Authorization Code with PKCE): carries the S256 challenge
    of `code_verifier`, never the verifier itself."""
    session = OAuth2Session(client_id=client_id, redirect_uri=redirect_uri, scope=scope, code_challenge_method="S256")
    extra = {"show_dialog": "true"} if show_dialog else {}
    url, _ = session.create_authorization_url(
        f"{settings.SPOTIFY_ACCOUNTS_URL}authorize", state=state, code_verifier=code_verifier, **extra
    )
    return str(url)


def request_authorization_code_grant(
    *,
    client_id: str,
    client_secret: str,
    code: str,
    redirect_uri: str,
    code_verifier: str,
    limits: OperationLimits | None = None,
) -> TokenGrant:
    """Request an access token (Authorization Code with PKCE): grant_type=authorization_code
    with the code, the exact redirect_uri, the code_verifier and client authentication.

    One attempt only: a code is single-use, and a retry after a lost answer would present it
    twice (Spotify then revokes what it issued). Raises SpotifyInvalidGrant for a refused code.
    """
    limits = limits or default_limits()
    secrets = (client_secret, code, code_verifier)

    def send() -> TokenGrant:
        session = OAuth2Session(
            client_id=client_id,
            client_secret=client_secret,
            token_endpoint_auth_method="client_secret_basic",
            redirect_uri=redirect_uri,
            code_challenge_method="S256",
        )
        session.register_compliance_hook("access_token_response", _check_token_response)
        counter_inc("spotify_requests_total", endpoint=ENDPOINT)
        try:
            token = session.fetch_token(
                f"{settings.SPOTIFY_ACCOUNTS_URL}api/token",
                grant_type="authorization_code",
                code=code,
                code_verifier=code_verifier,
                timeout=float(limits.timeout_seconds),
            )
        except OAuthError as exc:
            message = f"token: HTTP 400: {_scrub(str(exc.error or 'error'), secrets)}"
            if exc.description:
                message += f" ({_scrub(str(exc.description), secrets)})"
            if exc.error == "invalid_grant":
                raise SpotifyInvalidGrant(message, status=400, endpoint=ENDPOINT) from None
            raise SpotifyAuthError(message, status=400, endpoint=ENDPOINT) from None
        except requests.RequestException as exc:
            kind = "timeout" if isinstance(exc, requests.Timeout) else "connection"
            raise SpotifyServerError(f"token: {kind} error: {type(exc).__name__}", endpoint=ENDPOINT) from None
        except (KeyError, ValueError) as exc:
            raise SpotifyAuthError(f"token: unreadable answer ({type(exc).__name__})", endpoint=ENDPOINT) from None
        return TokenGrant(
            access_token=str(token["access_token"]),
            refresh_token=token.get("refresh_token") or None,
            expires_in=int(token.get("expires_in") or 3600),
            scope=str(token.get("scope") or ""),
        )

    return _token_request_with(send, limits=limits)


def _check_token_response(response: requests.Response) -> requests.Response:
    """Our errors for what Authlib would not read as an OAuth error: a 429 or a 5xx."""
    counter_inc("spotify_responses_total", endpoint=ENDPOINT, status=str(response.status_code))
    if response.status_code == 429:
        wait = retry_after_seconds(response.headers) or 1.0
        raise SpotifyRateLimited(f"token: HTTP 429, retry after {wait:.1f}s", retry_after=wait, endpoint=ENDPOINT)
    if response.status_code >= 500:
        raise SpotifyServerError(f"token: HTTP {response.status_code}", status=response.status_code, endpoint=ENDPOINT)
    return response


def _scrub(text: str, secrets: tuple[str, ...]) -> str:
    for secret in secrets:
        if secret:
            text = text.replace(secret, "[redacted]")
    return text[:300]


def _token_request(
    form: dict[str, str], *, client_id: str, client_secret: str, secrets: tuple[str, ...], limits: OperationLimits
) -> TokenGrant:
    def send() -> TokenGrant:
        return _attempts(form, client_id=client_id, client_secret=client_secret, secrets=secrets, limits=limits)

    return _token_request_with(send, limits=limits)


def _token_request_with(send: Callable[[], TokenGrant], *, limits: OperationLimits) -> TokenGrant:
    """One token-endpoint operation under the `spotify.token` breaker, with telemetry."""
    telemetry_record(source="spotify", operation="token", outcome="started")
    started = time.monotonic()
    try:
        breaker_check(BREAKER, endpoint=ENDPOINT)
    except CircuitOpen as exc:
        telemetry_record(source="spotify", operation="token", outcome="skipped", error=str(exc))
        raise
    try:
        grant = send()
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
