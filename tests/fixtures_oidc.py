"""A real OpenID provider on loopback for the single sign-on tests: tests/oidc_provider/ (a
django-oidc-provider project of its own) started as a separate process on a free port, with the
console registered as a confidential client. The test creates people there and changes their
groups through the provider's control endpoint, as an identity team would."""

from __future__ import annotations

import os
import secrets
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urljoin, urlsplit

import pytest
import requests

ROOT = Path(__file__).resolve().parents[1]
TEST_CALLBACK = "http://testserver/oidc/callback/"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class OpenIdProvider:
    url: str
    client_id: str
    client_secret: str
    control_token: str = field(repr=False)

    @property
    def issuer(self) -> str:
        return f"{self.url}/openid"

    def user_put(self, username: str, **fields: Any) -> dict[str, Any]:
        """Create `username` or change them (password, email, given_name, family_name, groups)."""
        response = requests.post(
            f"{self.url}/control/users",
            json={"username": username, **fields},
            headers={"X-Control-Token": self.control_token},
            timeout=10,
        )
        response.raise_for_status()
        return dict(response.json())

    def console_settings(self) -> dict[str, Any]:
        return {
            "OIDC_ENABLED": True,
            "OIDC_PROVIDER_NAME": "Test IdP",
            "OIDC_OP_ISSUER": self.issuer,
            "OIDC_RP_CLIENT_ID": self.client_id,
            "OIDC_RP_CLIENT_SECRET": self.client_secret,
            "OIDC_OP_AUTHORIZATION_ENDPOINT": f"{self.issuer}/authorize",
            "OIDC_OP_TOKEN_ENDPOINT": f"{self.issuer}/token",
            "OIDC_OP_USER_ENDPOINT": f"{self.issuer}/userinfo",
            "OIDC_OP_JWKS_ENDPOINT": f"{self.issuer}/jwks",
        }

    def sign_in(self, authorize_url: str, *, username: str, password: str, session: requests.Session | None = None) -> str:
        """A person at the provider: open the authorize URL, sign in, and return where the provider
        sends them back (the console's callback URL with code and state)."""
        http = session or requests.Session()
        response = http.get(authorize_url, allow_redirects=False, timeout=10)
        if response.status_code == 302 and "/login/" in response.headers["Location"]:
            login_url = urljoin(self.url, response.headers["Location"])
            form = http.get(login_url, timeout=10)
            assert form.status_code == 200, form.text
            next_url = parse_qs(urlsplit(login_url).query)["next"][0]
            response = http.post(
                login_url,
                data={
                    "username": username,
                    "password": password,
                    "next": next_url,
                    "csrfmiddlewaretoken": http.cookies["op_csrftoken"],
                },
                headers={"Referer": login_url},
                allow_redirects=False,
                timeout=10,
            )
            assert response.status_code == 302, response.text
            response = http.get(urljoin(self.url, response.headers["Location"]), allow_redirects=False, timeout=10)
        assert response.status_code == 302, response.text
        return str(response.headers["Location"])


def _start(tmp_dir: Path, redirect_uris: list[str]) -> tuple[subprocess.Popen[bytes], OpenIdProvider]:
    port = _free_port()
    provider = OpenIdProvider(
        url=f"http://127.0.0.1:{port}",
        client_id=f"opsconsole-{secrets.token_hex(4)}",
        client_secret=secrets.token_urlsafe(24),
        control_token=secrets.token_urlsafe(24),
    )
    env = {
        key: value for key, value in os.environ.items() if not key.startswith(("DJANGO_", "DATABASE_URL", "REDIS_URL"))
    }
    env.update(
        OP_SITE_URL=provider.url,
        OP_DATABASE=str(tmp_dir / "provider.sqlite3"),
        OP_CLIENT_ID=provider.client_id,
        OP_CLIENT_SECRET=provider.client_secret,
        OP_REDIRECT_URI="\n".join(redirect_uris),
        OP_CONTROL_TOKEN=provider.control_token,
    )
    log = (tmp_dir / "provider.log").open("wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.oidc_provider.serve", str(port)],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError("the test OpenID provider exited: " + (tmp_dir / "provider.log").read_text()[-3000:])
        try:
            if requests.get(f"{provider.issuer}/.well-known/openid-configuration", timeout=2).status_code == 200:
                return process, provider
        except requests.ConnectionError:
            pass
        time.sleep(0.2)
    process.kill()
    raise RuntimeError("the test OpenID provider did not answer within 60 s")


@pytest.fixture(scope="session")
def openid_provider_factory(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """Starts providers (one per set of redirect URIs) for the session; stops them at its end."""
    started: dict[tuple[str, ...], OpenIdProvider] = {}
    processes: list[subprocess.Popen[bytes]] = []

    def start(redirect_uris: list[str]) -> OpenIdProvider:
        key = tuple(redirect_uris)
        if key not in started:
            process, provider = _start(tmp_path_factory.mktemp("openid-provider"), redirect_uris)
            processes.append(process)
            started[key] = provider
        return started[key]

    yield start
    for process in processes:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()


@pytest.fixture
def openid_provider(openid_provider_factory: Any, settings: Any) -> OpenIdProvider:
    """The provider, with the console's single sign-on pointed at it (Django's test client)."""
    provider: OpenIdProvider = openid_provider_factory([TEST_CALLBACK])
    for name, value in provider.console_settings().items():
        setattr(settings, name, value)
    return provider
