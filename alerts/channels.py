"""Sending one message through one channel: email, Slack incoming webhook, signed webhook, PagerDuty.

Every send has a timeout and raises DeliveryFailed on any failure; the caller records the
attempt and retries later. Webhooks never follow redirects (a redirect could lead past the
SSRF check to an internal address).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
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


def _alert_line(item: dict[str, Any]) -> str:
    label = item.get("subject_label") or item.get("subject", "")
    summary = item.get("summary", "")
    line = summary if summary.startswith(label) else f"{label}: {summary}".rstrip(": ")
    return f"- {line}{' (flapping)' if item.get('flapping') else ''}"


def message_text(payload: dict[str, Any]) -> tuple[str, str]:
    """(subject line, plain-text body) of a notification payload: a group names its subjects up to
    ALERT_GROUP_SUBJECTS_MAX ("… and N more") and links the admin list filtered to them."""
    alerts: list[dict[str, Any]] = payload.get("alerts") or []
    lines = [payload.get("summary", "")]
    if len(alerts) > 1:
        cap = max(1, int(settings.ALERT_GROUP_SUBJECTS_MAX))
        lines += ["", *(_alert_line(item) for item in alerts[:cap])]
        if len(alerts) > cap:
            lines.append(f"… and {len(alerts) - cap} more")
    lines += ["", f"Rule: {payload.get('rule', '')}", f"Severity: {payload.get('severity', '')}"]
    if payload.get("state"):
        lines.append(f"State: {payload['state']}")
    if len(alerts) == 1:
        lines.append(f"Opened: {alerts[0].get('opened_at', '')}")
        if alerts[0].get("resolved_at"):
            lines.append(f"Resolved: {alerts[0]['resolved_at']}")
        if alerts[0].get("flapping"):
            lines.append("Flapping: opened and resolved too often within an hour; held open until clear for an hour.")
    if payload.get("runbook"):
        lines.append(f"Runbook: {payload['runbook']}")
    link = alerts[0].get("link") if len(alerts) == 1 else payload.get("link")
    if link:
        lines.append(f"Admin: {link}" if len(alerts) == 1 else f"All {len(alerts)} alerts: {link}")
    return str(payload.get("title", "")), "\n".join(lines)


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


# Events API v2 (developer.pagerduty.com/docs/events-API-v2/02-Trigger-Events.md).
PAGERDUTY_ACTIONS = {
    "opened": "trigger",
    "reminder": "trigger",
    "acknowledged": "acknowledge",
    "resolved": "resolve",
    "unreadable": "trigger",
    "readable": "resolve",
    "test": "trigger",
}
PAGERDUTY_SEVERITIES = {"critical": "critical", "warning": "warning"}
PAGERDUTY_ROUTING_KEY = re.compile(r"^[A-Za-z0-9]{32}$")


def pagerduty_events(routing_key: str, payload: dict[str, Any]) -> list[dict[str, Any]]:
    """One Events API v2 event per alert of the payload (a rule-level or test message: one), keyed
    by the alert's dedup_key so that trigger, acknowledge and resolve land on one PagerDuty alert."""
    action = PAGERDUTY_ACTIONS[payload["event"]]
    items = payload.get("alerts") or [
        {
            "dedup_key": payload.get("dedup_key", ""),
            "subject": payload.get("rule", ""),
            "severity": payload.get("severity", ""),
            "summary": payload.get("summary", ""),
            "state": payload.get("state", ""),
            "link": payload.get("link", ""),
        }
    ]
    events = []
    for item in items:
        event: dict[str, Any] = {"routing_key": routing_key, "event_action": action, "dedup_key": item["dedup_key"]}
        if action == "trigger":
            label = item.get("subject_label") or item.get("subject", "")
            links = [{"href": item["link"], "text": "Alert in opsconsole"}] if item.get("link") else []
            if payload.get("runbook"):
                links.append({"href": payload["runbook"], "text": "Runbook"})
            event |= {
                "payload": {
                    "summary": f"{payload.get('rule', '')}: {label}: {item.get('summary', '')}"[:1024],
                    "source": urlsplit(settings.ALERT_CONSOLE_URL).hostname or "opsconsole",
                    "severity": PAGERDUTY_SEVERITIES.get(item.get("severity", ""), "info"),
                    "timestamp": item.get("opened_at") or None,
                    "component": item.get("subject", "")[:255],
                    "group": payload.get("rule", ""),
                    "class": payload.get("rule_kind", ""),
                    "custom_details": {
                        "summary": item.get("summary", ""),
                        "subject": label,
                        "state": item.get("state", ""),
                        "flapping": bool(item.get("flapping")),
                        "runbook": payload.get("runbook", ""),
                        "alert": item.get("link", ""),
                    },
                },
                "links": links,
                "client": "opsconsole",
                "client_url": settings.ALERT_CONSOLE_URL,
            }
            if event["payload"]["timestamp"] is None:
                del event["payload"]["timestamp"]
        events.append(event)
    return events


def _send_pagerduty(channel: NotificationChannel, payload: dict[str, Any]) -> Sent:
    # Re-sending a whole message after a partial failure is safe: PagerDuty deduplicates on dedup_key.
    sent = Sent()
    for event in pagerduty_events(channel.target, payload):
        sent = _post(settings.ALERT_PAGERDUTY_URL, json.dumps(event).encode(), {})
    return sent


SENDERS: dict[str, Callable[[NotificationChannel, dict[str, Any]], Sent]] = {
    NotificationChannel.Kind.EMAIL: _send_email,
    NotificationChannel.Kind.SLACK: _send_slack,
    NotificationChannel.Kind.WEBHOOK: _send_webhook,
    NotificationChannel.Kind.PAGERDUTY: _send_pagerduty,
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
    if kind == NotificationChannel.Kind.PAGERDUTY:
        if not PAGERDUTY_ROUTING_KEY.match(target):
            raise ValueError("Enter the 32-character integration (routing) key of a PagerDuty Events API v2 integration.")
        return
    try:
        url_check_target(target)
    except TargetRefused as exc:
        raise ValueError(str(exc)) from exc
