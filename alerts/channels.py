"""Sending one message through one channel: email, Slack incoming webhook, signed webhook.

Every send has a timeout and raises DeliveryFailed on any failure; the caller records the
attempt and retries later. Webhooks never follow redirects (a redirect could lead past the
SSRF check to an internal address).
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import requests
from django.conf import settings
from django.core.mail import get_connection, send_mail

from alerts.models import NotificationChannel
from core.netguard import TargetRefused, url_check_target

SIGNATURE_HEADER = "X-Opsconsole-Signature"


class DeliveryFailed(Exception):
    def __init__(self, message: str, *, status_code: int | None = None) -> None:
        super().__init__(message)
        self.status_code = status_code


@dataclass(frozen=True)
class Sent:
    status_code: int | None = None


def webhook_signature(secret: str, body: bytes) -> str:
    """`sha256=<hex HMAC-SHA256 of the body>`: what a receiver recomputes with the shared secret."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def message_text(payload: dict[str, Any]) -> tuple[str, str]:
    """(subject line, plain-text body) of a notification payload."""
    state = payload.get("event", "")
    severity = str(payload.get("severity", "")).upper()
    title = f"[{severity}] {payload.get('rule', '')}: {payload.get('subject_label') or payload.get('subject', '')} ({state})"
    lines = [
        payload.get("summary", ""),
        "",
        f"Rule: {payload.get('rule', '')}",
        f"State: {payload.get('state', '')}",
        f"Severity: {payload.get('severity', '')}",
        f"Opened: {payload.get('opened_at', '')}",
    ]
    if payload.get("resolved_at"):
        lines.append(f"Resolved: {payload['resolved_at']}")
    if payload.get("runbook"):
        lines.append(f"Runbook: {payload['runbook']}")
    if payload.get("link"):
        lines.append(f"Admin: {payload['link']}")
    return title, "\n".join(lines)


def _scrub(text: str, url: str) -> str:
    """Error texts name the URL, and a Slack webhook's path is its credential: never store it."""
    parts = urlsplit(url)
    for secret_part in (url, parts.path if len(parts.path) > 1 else "", parts.query):
        if secret_part:
            text = text.replace(secret_part, "<hidden>")
    return text


def _post(url: str, body: bytes, headers: dict[str, str]) -> Sent:
    try:
        url_check_target(url)
    except TargetRefused as exc:
        raise DeliveryFailed(f"target refused: {exc}") from exc
    try:
        response = requests.post(
            url,
            data=body,
            headers={"Content-Type": "application/json", "User-Agent": "opsconsole-alerts", **headers},
            timeout=float(settings.ALERT_DELIVERY_TIMEOUT_SECONDS),
            allow_redirects=False,
        )
    except requests.RequestException as exc:
        raise DeliveryFailed(_scrub(f"{type(exc).__name__}: {exc}", url)[:500]) from exc
    if not 200 <= response.status_code < 300:
        raise DeliveryFailed(f"HTTP {response.status_code}: {response.text[:200]}", status_code=response.status_code)
    return Sent(response.status_code)


def _send_email(channel: NotificationChannel, payload: dict[str, Any]) -> Sent:
    subject, body = message_text(payload)
    try:
        connection = get_connection(fail_silently=False, timeout=settings.EMAIL_TIMEOUT)
        send_mail(subject, body, settings.DEFAULT_FROM_EMAIL, [channel.target], connection=connection)
    except Exception as exc:  # smtplib, socket and backend errors alike: the attempt failed
        raise DeliveryFailed(f"{type(exc).__name__}: {exc}"[:500]) from exc
    return Sent()


def _send_slack(channel: NotificationChannel, payload: dict[str, Any]) -> Sent:
    subject, body = message_text(payload)
    return _post(channel.target, json.dumps({"text": f"*{subject}*\n{body}"}).encode(), {})


def _send_webhook(channel: NotificationChannel, payload: dict[str, Any]) -> Sent:
    body = json.dumps(payload, sort_keys=True).encode()
    headers = {SIGNATURE_HEADER: webhook_signature(channel.secret, body)} if channel.secret else {}
    return _post(channel.target, body, headers)


SENDERS: dict[str, Callable[[NotificationChannel, dict[str, Any]], Sent]] = {
    NotificationChannel.Kind.EMAIL: _send_email,
    NotificationChannel.Kind.SLACK: _send_slack,
    NotificationChannel.Kind.WEBHOOK: _send_webhook,
}


def channel_send(channel: NotificationChannel, payload: dict[str, Any]) -> Sent:
    """Send once; raises DeliveryFailed."""
    return SENDERS[channel.kind](channel, payload)


def channel_validate_target(*, kind: str, target: str) -> None:
    """Raise ValueError with a message a form or the API can show."""
    from django.core.exceptions import ValidationError
    from django.core.validators import validate_email

    if kind == NotificationChannel.Kind.EMAIL:
        try:
            validate_email(target)
        except ValidationError as exc:
            raise ValueError("Enter a valid email address.") from exc
        return
    try:
        url_check_target(target)
    except TargetRefused as exc:
        raise ValueError(str(exc)) from exc
