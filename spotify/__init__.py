"""The one Spotify client module: errors, token endpoint, client, breakers, buckets, telemetry."""

from __future__ import annotations

from spotify.auth import (
    REQUIRED_SCOPES,
    TokenGrant,
    authorize_url,
    new_code_verifier,
    request_authorization_code_grant,
    request_client_credentials,
    request_token_refresh,
)
from spotify.client import SpotifyClient
from spotify.errors import (
    TRANSIENT_ERRORS,
    CircuitOpen,
    SpotifyAppRefused,
    SpotifyAuthError,
    SpotifyBadRequest,
    SpotifyError,
    SpotifyForbidden,
    SpotifyInvalidGrant,
    SpotifyNotFound,
    SpotifyRateLimited,
    SpotifyServerError,
)

__all__ = [
    "REQUIRED_SCOPES",
    "TRANSIENT_ERRORS",
    "CircuitOpen",
    "SpotifyAppRefused",
    "SpotifyAuthError",
    "SpotifyBadRequest",
    "SpotifyClient",
    "SpotifyError",
    "SpotifyForbidden",
    "SpotifyInvalidGrant",
    "SpotifyNotFound",
    "SpotifyRateLimited",
    "SpotifyServerError",
    "TokenGrant",
    "authorize_url",
    "new_code_verifier",
    "request_authorization_code_grant",
    "request_client_credentials",
    "request_token_refresh",
]
