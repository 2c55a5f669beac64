"""What a Spotify call can end in, as our exceptions (spotipy's never leak to callers).

Messages carry the endpoint, the status and Spotify's own message; never a token.
"""

from __future__ import annotations


class SpotifyError(Exception):
    def __init__(self, message: str, *, status: int | None = None, endpoint: str = "") -> None:
        super().__init__(message)
        self.status = status
        self.endpoint = endpoint


class SpotifyRateLimited(SpotifyError):
    """A 429 whose Retry-After exceeds SPOTIFY_MAX_SLEEP_SECONDS (or 429s through all
    attempts): park the work and reschedule it with countdown=retry_after."""

    def __init__(self, message: str, *, retry_after: float, status: int | None = 429, endpoint: str = "") -> None:
        super().__init__(message, status=status, endpoint=endpoint)
        self.retry_after = retry_after


class SpotifyServerError(SpotifyError):
    """5xx, connection error or timeout on every attempt."""


class SpotifyNotFound(SpotifyError):
    pass


class SpotifyBadRequest(SpotifyError):
    pass


class SpotifyForbidden(SpotifyError):
    """The endpoint is refused to this app (a capability it lacks) or this user."""


class SpotifyAppRefused(SpotifyForbidden):
    """403 on an endpoint and on the call every app may make: the app is refused everywhere
    (a Development Mode app whose owner lost Premium), not missing one capability."""


class SpotifyAuthError(SpotifyError):
    """A 401 that survived one forced token refresh, or the token endpoint refused us."""


class SpotifyInvalidGrant(SpotifyAuthError):
    """The refresh token is revoked or past its 6 months: the account needs re-authorization."""


class CircuitOpen(SpotifyError):
    def __init__(self, message: str, *, breaker: str, remaining: float, endpoint: str = "") -> None:
        super().__init__(message, status=None, endpoint=endpoint)
        self.breaker = breaker
        self.remaining = remaining


TRANSIENT_ERRORS = (SpotifyRateLimited, SpotifyServerError, CircuitOpen)
