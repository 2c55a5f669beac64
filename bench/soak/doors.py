"""The operator's doors, as a person or a script uses them: the API with a token, the admin with a
session and its CSRF token, and manage.py commands. The soak never acts on the database for an
operator."""

from __future__ import annotations

import re
import subprocess
import sys
import time
from collections.abc import Callable
from html.parser import HTMLParser
from typing import Any
from urllib.parse import urlsplit

import requests

from bench.soak.config import BASE_DIR

# Web is restarted by some faults: an operator's call is tried again for this long.
UNAVAILABLE_RETRY_SECONDS = 120.0
LOGIN_PATH = "/admin/login/"
ENROLL_PATH = "/admin/two-factor/enroll/"
VERIFY_PATH = "/admin/two-factor/verify/"
SIGN_IN_PATHS = (LOGIN_PATH, ENROLL_PATH, VERIFY_PATH)


class DoorError(RuntimeError):
    pass


def manage(*args: str, env: dict[str, str] | None = None, timeout: float = 600) -> str:
    """A manage.py command; its stdout (it failing is an error naming its output)."""
    result = subprocess.run(
        [sys.executable, "manage.py", *args], cwd=BASE_DIR, env=env, capture_output=True, text=True, timeout=timeout
    )
    if result.returncode:
        raise DoorError(f"manage.py {' '.join(args)} failed ({result.returncode}): {result.stderr[-2000:]}")
    return result.stdout.strip()


class _Form(HTMLParser):
    """The fields of the admin's change form as the browser would send them back."""

    def __init__(self) -> None:
        super().__init__()
        self.fields: dict[str, str] = {}
        self._select: str | None = None
        self._textarea: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        name = a.get("name", "")
        if tag == "input" and name:
            kind = a.get("type", "text")
            if kind in ("checkbox", "radio"):
                if "checked" in a:
                    self.fields[name] = a.get("value", "on")
            elif kind not in ("submit", "button", "file"):
                self.fields[name] = a.get("value", "")
        elif tag == "select" and name:
            self._select = name
        elif tag == "option" and self._select is not None and "selected" in a:
            self.fields[self._select] = a.get("value", "")
        elif tag == "textarea" and name:
            self._textarea = name
            self.fields[name] = ""

    def handle_endtag(self, tag: str) -> None:
        if tag == "select":
            self._select = None
        elif tag == "textarea":
            self._textarea = None

    def handle_data(self, data: str) -> None:
        if self._textarea is not None:
            self.fields[self._textarea] += data


class Doors:
    def __init__(self, *, base_url: str, token: str, username: str, password: str) -> None:
        self.base_url = base_url.rstrip("/")
        self.token = token
        self.username = username
        self.password = password
        self.api_session = requests.Session()
        self.api_session.headers["Authorization"] = f"Token {token}"
        self.admin_session: requests.Session | None = None
        # The authenticator app's key, from the enrolment page the admin shows at the first sign-in.
        self.totp_secret = ""
        self.calls: list[dict[str, Any]] = []

    # --- API ----------------------------------------------------------------------------------
    def api(self, method: str, path: str, *, json: Any = None, params: Any = None, ok: tuple[int, ...] = ()) -> Any:
        """Call /api/v1/<path>; a 5xx or a refused connection (web restarting) is tried again for a
        while, any other unexpected status is a DoorError."""
        url = f"{self.base_url}/api/v1/{path.lstrip('/')}"
        deadline = time.monotonic() + UNAVAILABLE_RETRY_SECONDS
        while True:
            try:
                response = self.api_session.request(method, url, json=json, params=params, timeout=30)
            except requests.RequestException as exc:
                if time.monotonic() > deadline:
                    raise DoorError(f"{method} {path}: {type(exc).__name__}") from None
                time.sleep(1.0)
                continue
            self.calls.append({"method": method, "path": path, "status": response.status_code})
            if response.status_code >= 500 and time.monotonic() <= deadline:
                time.sleep(1.0)
                continue
            if response.status_code < 400 or response.status_code in ok:
                return response.json() if response.content else None
            raise DoorError(f"{method} {path}: HTTP {response.status_code}: {response.text[:500]}")

    # --- admin --------------------------------------------------------------------------------
    def _admin(self) -> requests.Session:
        if self.admin_session is None:
            session = requests.Session()
            login = f"{self.base_url}/admin/login/"

            def log_in() -> requests.Response:
                page = session.get(login, timeout=30)
                if page.status_code != 200:
                    return page
                return session.post(
                    login,
                    data={
                        "username": self.username,
                        "password": self.password,
                        "csrfmiddlewaretoken": session.cookies.get("csrftoken", ""),
                        "next": "/admin/",
                    },
                    headers={"Referer": login},
                    timeout=30,
                )

            answer = _while_unavailable("admin login", log_in)
            if urlsplit(answer.url).path in (ENROLL_PATH, VERIFY_PATH):
                answer = self._second_factor(session, answer)
            if answer.status_code != 200 or urlsplit(answer.url).path in SIGN_IN_PATHS:
                raise DoorError(f"admin login failed: HTTP {answer.status_code} at {answer.url}")
            self.admin_session = session
        return self.admin_session

    def _second_factor(self, session: requests.Session, page: requests.Response) -> requests.Response:
        """The code after the password, as the operator's authenticator app gives it: enrolled at
        the first sign-in with the key the page shows, then a fresh code at each sign-in (a code
        already used is refused until the next 30-second step)."""
        import base64

        from django_otp.oath import totp

        url = page.url
        if urlsplit(url).path == ENROLL_PATH:
            match = re.search(r'<code id="twofactor-secret">([A-Z2-7 =]+)</code>', page.text)
            if match is None:
                raise DoorError("the two-factor enrolment page shows no key")
            self.totp_secret = match.group(1).replace(" ", "")
        if not self.totp_secret:
            raise DoorError("the admin asks for a two-factor code and the operator has no authenticator")
        key = base64.b32decode(self.totp_secret)
        for _ in range(4):
            code = f"{totp(key):06d}"
            answer = _while_unavailable(
                "two-factor code",
                lambda code=code: session.post(
                    url,
                    data={"code": code, "next": "/admin/", "csrfmiddlewaretoken": session.cookies.get("csrftoken", "")},
                    headers={"Referer": url},
                    timeout=30,
                ),
            )
            # Enrolment answers with the backup codes page at the same address; verification redirects.
            if (
                answer.status_code == 200
                and "twofactor-enroll-form" not in answer.text
                and "twofactor-verify-form" not in answer.text
            ):
                return _while_unavailable("admin index", lambda: session.get(f"{self.base_url}/admin/", timeout=30))
            wait = float(answer.headers.get("Retry-After") or 0) or 31 - time.time() % 30
            time.sleep(wait)
        raise DoorError(f"two-factor code refused at {url}: HTTP {answer.status_code}")

    def _admin_post(self, path: str, data: dict[str, Any]) -> requests.Response:
        deadline = time.monotonic() + UNAVAILABLE_RETRY_SECONDS
        while True:
            session = self._admin()
            url = f"{self.base_url}{path}"
            try:
                response = session.post(
                    url,
                    data={**data, "csrfmiddlewaretoken": session.cookies.get("csrftoken", "")},
                    headers={"Referer": url},
                    timeout=60,
                )
            except requests.RequestException as exc:
                if time.monotonic() > deadline:
                    raise DoorError(f"POST {path}: {type(exc).__name__}") from None
                time.sleep(1.0)
                continue
            self.calls.append({"method": "POST", "path": path, "status": response.status_code})
            if response.status_code >= 500 and time.monotonic() <= deadline:
                time.sleep(1.0)
                continue
            if response.status_code >= 400:
                raise DoorError(f"POST {path}: HTTP {response.status_code}: {response.text[:300]}")
            if urlsplit(response.url).path in SIGN_IN_PATHS:
                # Sent to sign in again (the session ended): the change was not made; sign in, send it again.
                self.admin_session = None
                if time.monotonic() > deadline:
                    raise DoorError(f"POST {path}: answered with the sign-in page {response.url}")
                continue
            return response

    def admin_action(self, changelist: str, action: str, ids: list[str]) -> str:
        """Run an admin action on rows of a changelist (e.g. "accounts/spotifyaccount"); returns the
        messages the admin showed."""
        response = self._admin_post(
            f"/admin/{changelist}/", {"action": action, "_selected_action": ids, "index": 0, "select_across": 0}
        )
        shown = re.findall(r'<ul class="messagelist">(.*?)</ul>', response.text, flags=re.S)
        said = " | ".join(re.findall(r'<li class="[^"]*">(.*?)</li>', shown[0] if shown else "", flags=re.S))
        if not said:
            raise DoorError(f"admin action {action} on {changelist}: no message shown (at {response.url})")
        return said

    def admin_change(self, model: str, pk: str, changes: dict[str, str]) -> None:
        """Edit one object in its admin change form: every field as shown, `changes` applied."""
        path = f"/admin/{model}/{pk}/change/"
        page = _while_unavailable(f"GET {path}", lambda: self._admin().get(f"{self.base_url}{path}", timeout=30))
        if urlsplit(page.url).path in SIGN_IN_PATHS:  # the session ended: sign in again, once
            self.admin_session = None
            page = _while_unavailable(f"GET {path}", lambda: self._admin().get(f"{self.base_url}{path}", timeout=30))
        if page.status_code != 200 or urlsplit(page.url).path != path:
            raise DoorError(f"GET {path}: HTTP {page.status_code} at {page.url}")
        form = _Form()
        form.feed(page.text)
        fields = {k: v for k, v in form.fields.items() if k != "csrfmiddlewaretoken" and not k.startswith("_")}
        fields.update(changes)
        fields["_save"] = "Save"
        response = self._admin_post(path, fields)
        if urlsplit(response.url).path == path:
            errors = re.findall(r'<ul class="errorlist[^"]*">(.*?)</ul>', response.text, flags=re.S)
            raise DoorError(f"admin change of {model} {pk} refused: {errors[:3]}")


def _while_unavailable(what: str, call: Callable[[], requests.Response]) -> requests.Response:
    """`call()` again while web answers 5xx or refuses the connection (restarting, its database
    away), for as long as the API door waits; then its last answer."""
    deadline = time.monotonic() + UNAVAILABLE_RETRY_SECONDS
    while True:
        try:
            response = call()
        except requests.RequestException as exc:
            if time.monotonic() > deadline:
                raise DoorError(f"{what}: {type(exc).__name__}") from None
            time.sleep(1.0)
            continue
        if response.status_code >= 500 and time.monotonic() <= deadline:
            time.sleep(1.0)
            continue
        return response
