"""The emulator as an HTTP server: `SpotifyEmulator` answers the Web API and, under /_emulator/, the control API."""

from __future__ import annotations

import json
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from devstack.emulator.control import PREFIX, control_reply
from devstack.emulator.oauth import OAuthServer
from devstack.emulator.state import Reply, api_error


class _HTTPServer(ThreadingHTTPServer):
    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that hung up (its process killed, its timeout passed) is not the server's error:
        Spotify does not tell us about it, and a traceback here would read as one in the soak's logs."""
        if isinstance(sys.exc_info()[1], ConnectionError):
            return
        super().handle_error(request, client_address)


class SpotifyEmulator(OAuthServer):
    """State, Web API and HTTP server of one emulator. Thread-safe: one lock guards all state."""

    def __init__(self, *, seed: int = 42, host: str = "127.0.0.1", port: int = 0) -> None:
        super().__init__(seed=seed)
        self._host = host
        self._server = _HTTPServer((host, port), _Handler)
        self._server.daemon_threads = True
        self._server.emulator = self  # type: ignore[attr-defined]
        self._thread: threading.Thread | None = None

    # Lifecycle ---------------------------------------------------------------------------
    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        return f"http://{self._host}:{self.port}"

    @property
    def api_url(self) -> str:
        return f"{self.url}/v1/"

    @property
    def accounts_url(self) -> str:
        return f"{self.url}/"

    def start(self) -> SpotifyEmulator:
        """Serve from a daemon thread (tests)."""
        self._thread = threading.Thread(target=self._server.serve_forever, name="spotify-emulator", daemon=True)
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        self._server.serve_forever()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        if self._thread:
            self._thread.join(timeout=5)

    def handle(
        self, method: str, path: str, query: dict[str, list[str]], headers: dict[str, str], body: bytes, base: str
    ) -> Reply:
        path = path.rstrip("/") or "/"
        if path.startswith(PREFIX):
            return control_reply(self, method, path.removeprefix(PREFIX), query, body)
        if path == "/authorize":
            return self.handle_authorize(method, query, body)
        return self.handle_api(method, path, query, headers, body, base)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "SpotifyEmulator/1"

    def log_message(self, format: str, *args: Any) -> None:
        # Quiet: request lines would carry nothing the counters do not.
        pass

    def _dispatch(self) -> None:
        emulator: SpotifyEmulator = self.server.emulator  # type: ignore[attr-defined]
        parts = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        headers = {k.lower(): v for k, v in self.headers.items()}
        host = self.headers.get("Host") or emulator.url.removeprefix("http://")
        try:
            reply = emulator.handle(self.command, parts.path, parse_qs(parts.query), headers, body, f"http://{host}")
        except Exception as exc:  # noqa: BLE001 - the emulator's own bug: answer 500 rather than hang the client
            reply = api_error(500, f"emulator error: {type(exc).__name__}: {exc}")
        # bytes: a page (the consent page) that names its own Content-Type; anything else is JSON.
        raw = isinstance(reply.body, bytes)
        payload = reply.body if raw else b"" if reply.body is None else json.dumps(reply.body).encode()
        try:
            self.send_response(reply.status)
            if payload and not raw:
                self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("Content-Length", str(len(payload)))
            for name, value in reply.headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(payload)
        except (BrokenPipeError, ConnectionResetError):
            # The client timed out (a latency fault) and went away.
            self.close_connection = True

    do_GET = do_POST = do_PUT = do_DELETE = _dispatch
