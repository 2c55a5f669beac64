"""Real receivers on loopback for alert deliveries and job pings: an SMTP server (aiosmtpd)
and an HTTP server that records every request and can answer errors first.
Registered from tests/conftest.py."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from email import message_from_bytes
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from django.utils import timezone

from alerts.models import AlertRule, Notification, NotificationChannel
from alerts.rules import alert_rules_setup
from alerts.services import notification_deliver


@dataclass
class SmtpInbox:
    host: str
    port: int
    messages: list[Message] = field(default_factory=list)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802 (aiosmtpd's hook name)
        message = message_from_bytes(envelope.original_content or envelope.content)
        message["X-Rcpt-To"] = ",".join(envelope.rcpt_tos)
        self.messages.append(message)
        return "250 OK"

    def subjects(self) -> list[str]:
        return [str(m["Subject"]) for m in self.messages]


@contextmanager
def smtp_server() -> Iterator[SmtpInbox]:
    """A real SMTP server on 127.0.0.1 that keeps every message it is given."""
    with socket.socket() as probe:  # a free port: aiosmtpd's start-up check cannot use port 0
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    inbox = SmtpInbox("127.0.0.1", port)
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield inbox
    finally:
        controller.stop()


@pytest.fixture
def smtp_inbox(settings: Any) -> Iterator[SmtpInbox]:
    """A real SMTP server on 127.0.0.1; Django's SMTP backend is pointed at it."""
    with smtp_server() as inbox:
        settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
        settings.EMAIL_HOST = inbox.host
        settings.EMAIL_PORT = inbox.port
        settings.EMAIL_USE_TLS = False
        settings.EMAIL_HOST_USER = ""
        settings.EMAIL_HOST_PASSWORD = ""
        yield inbox


@dataclass
class Received:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


class HttpReceiver:
    """Records requests; answers `fail_first` of them with 500, the rest with 200."""

    def __init__(self) -> None:
        self.requests: list[Received] = []
        self.fail_first = 0
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                with receiver._lock:
                    receiver.requests.append(Received(self.command, self.path, dict(self.headers.items()), body))
                    failing = len(receiver.requests) <= receiver.fail_first
                self.send_response(500 if failing else 200)
                self.send_header("Content-Type", "text/plain")
                self.end_headers()
                self.wfile.write(b"down" if failing else b"ok")

            do_GET = do_POST = _handle  # noqa: N815

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def paths(self) -> list[str]:
        with self._lock:
            return [r.path for r in self.requests]

    def wait_for(self, count: int, *, timeout: float = 30.0) -> list[Received]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                if len(self.requests) >= count:
                    return list(self.requests)
            time.sleep(0.05)
        raise AssertionError(f"expected {count} requests within {timeout} s, got {self.paths()}")

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def http_receiver() -> Iterator[HttpReceiver]:
    receiver = HttpReceiver()
    try:
        yield receiver
    finally:
        receiver.close()


@pytest.fixture
def alert_rules(db: None) -> list[AlertRule]:
    """The seeded rules (a transactional test elsewhere may have flushed the migration's rows)."""
    alert_rules_setup()
    return list(AlertRule.objects.order_by("name"))


def deliver_pending() -> list[dict[str, Any]]:
    """Run the delivery service for every pending notification due now (what the worker's
    `alert_deliver` task does), in this process."""
    due = Notification.objects.filter(status=Notification.Status.PENDING, next_attempt_at__lte=timezone.now())
    return [notification_deliver(notification_id=pk) for pk in due.order_by("pk").values_list("pk", flat=True)]


def make_dead_letters(count: int, *, source: str = "spotify.albums") -> None:
    from ingest.models import DeadLetter

    now = timezone.now()
    DeadLetter.objects.bulk_create(
        DeadLetter(
            source_service=source,
            operation="albums",
            error_type="server_error",
            error_message="HTTP 503",
            payload={"n": i},
            fingerprint=f"fp-{source}-{i}-{now.timestamp()}",
            first_seen=now,
            last_seen=now,
        )
        for i in range(count)
    )


def rule_only(name: str, *, channels: list[NotificationChannel], **changes: Any) -> AlertRule:
    """Enable one seeded rule (with these channels and changes) and disable every other one,
    so a test hears only the alert it is about. Transactional tests flush the seeded rules: seed again.
    The rule opens at once (`pending_for` 0) unless the test gives a pending period: pending is
    tested on its own (test_alert_pending.py)."""
    alert_rules_setup()
    AlertRule.objects.exclude(name=name).update(enabled=False)
    rule = AlertRule.objects.get(name=name)
    for attribute, value in {"enabled": True, "pending_for": timedelta(0), **changes}.items():
        setattr(rule, attribute, value)
    rule.save()
    rule.channels.set(channels)
    return rule
