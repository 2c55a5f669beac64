"""The emulator's accounts service: Authorization Code with PKCE, as Spotify serves it.

- `GET /authorize`: a consent page for a registered app and one of its registered redirect
  URIs (anything else is an error page, never a redirect); the tester picks or types a user
  and presses *Agree* (302 to `redirect_uri?code=...&state=...`) or *Cancel*
  (`?error=access_denied&state=...`).
- `POST /api/token grant_type=authorization_code`: the code once, within its lifetime, with
  the exact redirect_uri and the S256 verifier of its challenge; otherwise 400 invalid_grant.
  A PKCE client authenticates with client_id alone, and may refresh so as well.
- Development Mode apps admit five users (Spotify's allowlist); a later user's Web API calls
  answer 403.
"""

from __future__ import annotations

import base64
import hashlib
import html
import http.client
import secrets
from urllib.parse import parse_qs, urlencode, urlsplit

from devstack.emulator.state import (
    ACCESS_TOKEN_LIFETIME,
    REFRESH_TOKEN_LIFETIME,
    AccessToken,
    AuthorizationCode,
    RefreshToken,
    Reply,
    api_error,
    now,
)
from devstack.emulator.webapi import WebAPI, client_credentials

AUTHORIZATION_CODE_LIFETIME = 600  # seconds; RFC 6749 §4.1.2 recommends at most ten minutes
DEV_MODE_USER_CAP = 5
SCOPES = frozenset(
    {
        "ugc-image-upload",
        "user-read-playback-state",
        "user-modify-playback-state",
        "user-read-currently-playing",
        "app-remote-control",
        "streaming",
        "playlist-read-private",
        "playlist-read-collaborative",
        "playlist-modify-private",
        "playlist-modify-public",
        "user-follow-modify",
        "user-follow-read",
        "user-read-playback-position",
        "user-top-read",
        "user-read-recently-played",
        "user-library-modify",
        "user-library-read",
        "user-read-email",
        "user-read-private",
    }
)
_PARAMS = ("client_id", "response_type", "redirect_uri", "scope", "state", "code_challenge_method", "code_challenge")
_VERIFIER_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")


def _html(status: int, title: str, body: str) -> Reply:
    page = (
        f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title></head>"
        f"<body><h1>{html.escape(title)}</h1>{body}</body></html>"
    )
    return Reply(status, page.encode(), {"Content-Type": "text/html; charset=utf-8"})


def _error_page(message: str) -> Reply:
    return _html(400, "Error", f"<p id='error'>{html.escape(message)}</p>")


def _redirect(redirect_uri: str, params: dict[str, str]) -> Reply:
    separator = "&" if "?" in redirect_uri else "?"
    return Reply(302, None, {"Location": redirect_uri + separator + urlencode(params)})


def _s256(verifier: str) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(verifier.encode("ascii")).digest()).rstrip(b"=").decode()


def _invalid_grant(description: str) -> Reply:
    return Reply(400, {"error": "invalid_grant", "error_description": description})


class OAuthServer(WebAPI):
    """GET/POST /authorize and the authorization_code grant over the Web API's state."""

    def handle_authorize(self, method: str, query: dict[str, list[str]], body: bytes) -> Reply:
        with self._lock:
            self._counts["authorize"] += 1
        fields = query if method == "GET" else parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True)
        params = {name: values[0] for name, values in fields.items() if values}
        try:
            self._check_authorize_request(params)
        except Reply as reply:
            return reply
        if method == "GET":
            return self._consent_page(params)
        if method != "POST":
            return _error_page("Method not allowed")
        state = {"state": params["state"]} if params.get("state") else {}
        if params.get("decision") != "agree":
            return _redirect(params["redirect_uri"], {"error": "access_denied", **state})
        user_id = (params.get("user_id") or "").strip()
        if not user_id:
            return _error_page("Pick or type a user to log in as.")
        code = secrets.token_urlsafe(32)
        with self._lock:
            if user_id not in self._users:
                self._users[user_id] = {"id": user_id, "display_name": (params.get("display_name") or "").strip() or user_id}
            self._add_app_user(params["client_id"], user_id)
            self._authorization_codes[code] = AuthorizationCode(
                client_id=params["client_id"],
                user_id=user_id,
                redirect_uri=params["redirect_uri"],
                scope=params.get("scope", ""),
                code_challenge=params.get("code_challenge", ""),
                expires_at=now() + AUTHORIZATION_CODE_LIFETIME,
            )
        return _redirect(params["redirect_uri"], {"code": code, **state})

    def _check_authorize_request(self, params: dict[str, str]) -> None:
        """Client and redirect URI first: without both, an error page (never a redirect)."""
        client_id, redirect_uri = params.get("client_id", ""), params.get("redirect_uri", "")
        with self._lock:
            registered = self._app_redirect_uris.get(client_id)
        if registered is None:
            raise _error_page("INVALID_CLIENT: Invalid client")
        if redirect_uri not in registered:
            raise _error_page("INVALID_CLIENT: Invalid redirect URI")
        state = {"state": params["state"]} if params.get("state") else {}
        if params.get("response_type") != "code":
            raise _redirect(redirect_uri, {"error": "unsupported_response_type", **state})
        unknown = [scope for scope in params.get("scope", "").split() if scope not in SCOPES]
        if unknown:
            raise _redirect(redirect_uri, {"error": "invalid_scope", **state})
        challenge = params.get("code_challenge", "")
        method = params.get("code_challenge_method")
        if (challenge or method) and (method != "S256" or not 43 <= len(challenge) <= 128):
            raise _redirect(redirect_uri, {"error": "invalid_request", **state})

    def _consent_page(self, params: dict[str, str]) -> Reply:
        with self._lock:
            known = sorted(self._users.values(), key=lambda user: str(user["id"]))
        hidden = "".join(
            f"<input type='hidden' name='{name}' value='{html.escape(params[name], quote=True)}'>"
            for name in _PARAMS
            if name in params
        )
        options = "".join(
            f"<option value='{html.escape(str(u['id']), quote=True)}'>{html.escape(str(u['display_name']))}</option>"
            for u in known
        )
        scopes = "".join(f"<li>{html.escape(scope)}</li>" for scope in params.get("scope", "").split())
        body = (
            f"<p><strong id='client'>{html.escape(params['client_id'])}</strong> asks to:</p><ul id='scopes'>{scopes}</ul>"
            "<form method='post' action='/authorize'>"
            f"{hidden}"
            "<p><label for='user_id'>Log in as (Spotify user id)</label> "
            "<input id='user_id' name='user_id' list='known-users' autocomplete='off'>"
            f"<datalist id='known-users'>{options}</datalist></p>"
            "<p><label for='display_name'>Display name (new users)</label> <input id='display_name' name='display_name'></p>"
            "<button type='submit' id='agree' name='decision' value='agree'>Agree</button> "
            "<button type='submit' id='cancel' name='decision' value='cancel'>Cancel</button>"
            "</form>"
        )
        return _html(200, "Spotify emulator: authorize access", body)

    # Token endpoint ---------------------------------------------------------------------------
    def _token(self, headers: dict[str, str], body: bytes) -> Reply:
        form = {k: v[0] for k, v in parse_qs(body.decode("utf-8", "replace")).items()}
        basic = headers.get("authorization", "").lower().startswith("basic ")
        grant_type = form.get("grant_type", "")
        if grant_type == "authorization_code":
            return self._authorization_code_grant(headers, form)
        if grant_type == "refresh_token":
            with self._lock:
                stored = self._refresh_tokens.get(form.get("refresh_token", ""))
            if stored is not None and stored.client_id is not None:
                return self._refresh_issued_token(headers, form, stored, public=not basic and not form.get("client_secret"))
        return super()._token(headers, body)

    def _client(self, headers: dict[str, str], form: dict[str, str], *, public: bool) -> str:
        """The authenticated client id: Basic or body secret, or client_id alone for a PKCE client."""
        client_id, client_secret = client_credentials(headers, form)
        with self._lock:
            expected = self._app_secrets.get(client_id)
        if not client_id or expected is None:
            raise Reply(400, {"error": "invalid_client", "error_description": "Invalid client"})
        if (client_secret or not public) and client_secret != expected:
            raise Reply(400, {"error": "invalid_client", "error_description": "Invalid client secret"})
        return client_id

    def _authorization_code_grant(self, headers: dict[str, str], form: dict[str, str]) -> Reply:
        verifier = form.get("code_verifier", "")
        client_id = self._client(headers, form, public=bool(verifier))
        with self._lock:
            code = self._authorization_codes.get(form.get("code", ""))
            if code is None or code.client_id != client_id:
                raise _invalid_grant("Invalid authorization code")
            if code.used:
                # A replayed code: the tokens issued from it are revoked too (RFC 6749 §4.1.2).
                if code.refresh_token and code.refresh_token in self._refresh_tokens:
                    self._refresh_tokens[code.refresh_token].revoked = True
                raise _invalid_grant("Invalid authorization code")
            if code.expires_at <= now():
                raise _invalid_grant("Authorization code expired")
            if form.get("redirect_uri", "") != code.redirect_uri:
                raise _invalid_grant("Invalid redirect URI")
            if code.code_challenge:
                if not 43 <= len(verifier) <= 128 or not set(verifier) <= _VERIFIER_CHARS:
                    raise _invalid_grant("code_verifier was incorrect")
                if not secrets.compare_digest(_s256(verifier), code.code_challenge):
                    raise _invalid_grant("code_verifier was incorrect")
            elif verifier:
                raise _invalid_grant("code_verifier was incorrect")
            code.used = True
            refresh_token = "r-" + secrets.token_urlsafe(24)
            self._refresh_tokens[refresh_token] = RefreshToken(
                code.user_id, now(), client_id=client_id, scope=code.scope, public=bool(code.code_challenge)
            )
            code.refresh_token = refresh_token
            access = self._issue_access_token(client_id, code.user_id)
        return Reply(
            200,
            {
                "access_token": access,
                "token_type": "Bearer",
                "scope": code.scope,
                "expires_in": ACCESS_TOKEN_LIFETIME,
                "refresh_token": refresh_token,
            },
        )

    def _refresh_issued_token(
        self, headers: dict[str, str], form: dict[str, str], stored: RefreshToken, *, public: bool
    ) -> Reply:
        if public and not stored.public:
            raise Reply(400, {"error": "invalid_client", "error_description": "Invalid client"})
        client_id = self._client(headers, form, public=public)
        with self._lock:
            if stored.client_id != client_id:
                raise _invalid_grant("Invalid refresh token")
            if stored.revoked:
                raise _invalid_grant("Refresh token revoked")
            if now() - stored.authorized_at > REFRESH_TOKEN_LIFETIME.total_seconds():
                raise _invalid_grant("Refresh token expired")
            access = self._issue_access_token(client_id, stored.user_id)
            answer: dict[str, object] = {
                "access_token": access,
                "token_type": "Bearer",
                "expires_in": ACCESS_TOKEN_LIFETIME,
                "scope": stored.scope,
            }
            if self._rotate_refresh_tokens or public:
                # PKCE refresh tokens rotate on every refresh at Spotify.
                new_refresh = "r-" + secrets.token_urlsafe(24)
                self._refresh_tokens[new_refresh] = RefreshToken(
                    stored.user_id, stored.authorized_at, client_id=client_id, scope=stored.scope, public=stored.public
                )
                stored.revoked = True
                answer["refresh_token"] = new_refresh
        return Reply(200, answer)

    # Web API: Development Mode allowlist ---------------------------------------------------
    def _authorize(self, headers: dict[str, str]) -> AccessToken:
        token = super()._authorize(headers)
        if token.user_id is not None and self.app_mode(token.client_id) == "development":
            with self._lock:
                admitted = self._app_users.get(token.client_id, [])[:DEV_MODE_USER_CAP]
            if token.user_id not in admitted:
                raise api_error(403, "Check settings on developer.spotify.com/dashboard, the user may not be registered.")
        return token


def consent_over_http(authorize_url: str, *, user_id: str, display_name: str = "", agree: bool = True) -> str:
    """Do what a person does on the consent page of `authorize_url` (open it, log in as `user_id`,
    press Agree or Cancel) over HTTP; returns where it redirects (the console's callback URL).
    Raises ValueError with the page's error when the emulator answers an error page."""
    parts = urlsplit(authorize_url)
    connection = http.client.HTTPConnection(parts.netloc, timeout=10)
    try:
        connection.request("GET", f"{parts.path}?{parts.query}")
        page = connection.getresponse()
        text = page.read().decode("utf-8", "replace")
        if page.status != 200:
            raise ValueError(f"consent page answered {page.status}: {html.unescape(text)[:300]}")
        form = {name: values[0] for name, values in parse_qs(parts.query).items()}
        form.update(user_id=user_id, display_name=display_name, decision="agree" if agree else "cancel")
        connection.request(
            "POST", "/authorize", body=urlencode(form), headers={"Content-Type": "application/x-www-form-urlencoded"}
        )
        answer = connection.getresponse()
        text = answer.read().decode("utf-8", "replace")
        location = answer.getheader("Location")
        if answer.status != 302 or not location:
            raise ValueError(f"consent answered {answer.status}: {html.unescape(text)[:300]}")
        return location
    finally:
        connection.close()
