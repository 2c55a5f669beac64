from __future__ import annotations

import ipaddress

import pytest
from django.test import RequestFactory

from core.client_ip import client_ip, ip_allowlisted

pytestmark = pytest.mark.usefixtures("short_probe_timeouts")

rf = RequestFactory()


def _request(remote: str, xff: str | None = None):  # type: ignore[no-untyped-def]
    extra = {"REMOTE_ADDR": remote}
    if xff is not None:
        extra["HTTP_X_FORWARDED_FOR"] = xff
    return rf.get("/health", **extra)


def test_without_trusted_proxies_forwarded_for_is_ignored(settings) -> None:  # type: ignore[no-untyped-def]
    settings.TRUSTED_PROXIES = []
    assert client_ip(_request("198.51.100.7", "10.0.0.5")) == ipaddress.ip_address("198.51.100.7")


def test_forwarded_for_is_believed_only_from_a_trusted_proxy(settings) -> None:  # type: ignore[no-untyped-def]
    settings.TRUSTED_PROXIES = ["172.16.0.0/12"]
    assert client_ip(_request("172.16.0.2", "203.0.113.9")) == ipaddress.ip_address("203.0.113.9")
    # The same header from a non-proxy address is the caller's own claim.
    assert client_ip(_request("198.51.100.7", "203.0.113.9")) == ipaddress.ip_address("198.51.100.7")


def test_client_written_hops_left_of_the_proxy_are_not_believed(settings) -> None:  # type: ignore[no-untyped-def]
    settings.TRUSTED_PROXIES = ["172.16.0.2", "172.16.0.3"]
    # Client sent "X-Forwarded-For: 10.0.0.5"; proxies appended the real client, then each other.
    request = _request("172.16.0.3", "10.0.0.5, 198.51.100.7, 172.16.0.2")
    assert client_ip(request) == ipaddress.ip_address("198.51.100.7")


def test_garbage_in_the_chain_falls_back_to_the_last_trusted_hop(settings) -> None:  # type: ignore[no-untyped-def]
    settings.TRUSTED_PROXIES = ["172.16.0.2"]
    assert client_ip(_request("172.16.0.2", "not-an-ip")) == ipaddress.ip_address("172.16.0.2")


@pytest.mark.parametrize(
    ("allowlist", "remote", "allowed"),
    [
        (["10.1.2.3"], "10.1.2.3", True),
        (["10.1.2.3"], "10.1.2.4", False),
        (["10.1.0.0/16"], "10.1.200.9", True),
        (["10.1.0.0/16"], "10.2.0.1", False),
        (["2001:db8::/32"], "2001:db8::1", True),
        (["10.1.2.3"], "::ffff:10.1.2.3", True),
        ([], "127.0.0.1", False),
    ],
)
def test_allowlist_matches_ips_and_cidrs(settings, allowlist: list[str], remote: str, allowed: bool) -> None:  # type: ignore[no-untyped-def]
    settings.HEALTH_ALLOWLIST = allowlist
    settings.TRUSTED_PROXIES = []
    assert ip_allowlisted(_request(remote)) is allowed


def test_a_malformed_allowlist_entry_fails_loudly(settings) -> None:  # type: ignore[no-untyped-def]
    settings.HEALTH_ALLOWLIST = ["10.1.2.300"]
    with pytest.raises(ValueError):
        ip_allowlisted(_request("10.1.2.3"))
