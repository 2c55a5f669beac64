"""Outbound URLs an operator configures (alert webhooks, job ping URLs): refuse internal targets.

A webhook URL typed into the console must not turn the workers into a proxy onto the
database, Redis or a cloud metadata service (SSRF). Targets that resolve to loopback,
private, link-local or otherwise non-public addresses are refused unless
ALERT_WEBHOOK_ALLOW_PRIVATE is true (the demo and the tests, whose receivers are on loopback).
"""

from __future__ import annotations

import ipaddress
import socket
from urllib.parse import urlsplit

from django.conf import settings


class TargetRefused(ValueError):
    """The URL is malformed or points at an address the console must not call."""


def private_targets_allowed() -> bool:
    return bool(getattr(settings, "ALERT_WEBHOOK_ALLOW_PRIVATE", False))


def url_check_target(url: str) -> None:
    """Raise TargetRefused unless `url` is http(s) with a host that resolves to public addresses only."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise TargetRefused(f"not a valid URL: {exc}") from exc
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise TargetRefused("only http:// and https:// URLs with a host are allowed")
    if private_targets_allowed():
        return
    try:
        infos = socket.getaddrinfo(parts.hostname, port or (443 if parts.scheme == "https" else 80), type=socket.SOCK_STREAM)
    except OSError as exc:
        raise TargetRefused(f"host {parts.hostname!r} does not resolve") from exc
    for info in infos:
        address = ipaddress.ip_address(str(info[4][0]).split("%", 1)[0])
        if not address.is_global or address.is_multicast:
            raise TargetRefused(
                f"{parts.hostname} resolves to {address}, a non-public address (set ALERT_WEBHOOK_ALLOW_PRIVATE=true to allow)"
            )
