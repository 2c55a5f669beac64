"""Who is calling: the client IP, and whether it may see health telemetry without logging in.

The IP is REMOTE_ADDR. X-Forwarded-For is believed only when REMOTE_ADDR is one of
settings.TRUSTED_PROXIES, and then only hop by hop from the right: every hop a trusted
proxy appended is skipped, the first untrusted one is the client. Anything to its left
was written by the client itself and would let anyone claim an allowlisted address.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from functools import lru_cache

from django.conf import settings
from django.http import HttpRequest

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


@lru_cache(maxsize=32)
def _networks(entries: tuple[str, ...]) -> tuple[IPNetwork, ...]:
    # A typo in an allowlist must fail loudly at the first request, not silently allow nobody.
    return tuple(ipaddress.ip_network(entry, strict=False) for entry in entries if entry)


def parse_networks(entries: Iterable[str]) -> tuple[IPNetwork, ...]:
    return _networks(tuple(entry.strip() for entry in entries))


def _address(value: str) -> IPAddress | None:
    value = value.strip()
    if value.startswith("[") and "]" in value:  # "[2001:db8::1]:443"
        value = value[1 : value.index("]")]
    elif value.count(":") == 1:  # "203.0.113.5:51234"
        value = value.split(":", 1)[0]
    try:
        address = ipaddress.ip_address(value)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        return address.ipv4_mapped
    return address


def ip_in(address: IPAddress | None, networks: Iterable[IPNetwork]) -> bool:
    return address is not None and any(address.version == net.version and address in net for net in networks)


def client_ip(request: HttpRequest) -> IPAddress | None:
    """The caller's address; X-Forwarded-For only through proxies in TRUSTED_PROXIES."""
    remote = _address(request.META.get("REMOTE_ADDR", ""))
    trusted = parse_networks(settings.TRUSTED_PROXIES)
    if not trusted or not ip_in(remote, trusted):
        return remote
    forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
    hops = [hop for hop in (part.strip() for part in forwarded.split(",")) if hop]
    for hop in reversed(hops):
        address = _address(hop)
        if address is None:
            # Garbage in the chain: stop at the last address we could trust.
            return remote
        if not ip_in(address, trusted):
            return address
        remote = address
    return remote


def ip_allowlisted(request: HttpRequest) -> bool:
    networks = parse_networks(settings.HEALTH_ALLOWLIST)
    # No allowlist (the default): every anonymous probe would parse its address for nothing.
    return bool(networks) and ip_in(client_ip(request), networks)
