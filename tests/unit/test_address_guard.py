"""The SSRF guard's words and its host check: what a refused webhook URL is told, word
for word, and which addresses of a host are looked at."""

from __future__ import annotations

import ipaddress
import re
import socket
from typing import Any

import pytest

from audioconv.adapters import address_guard
from audioconv.adapters.address_guard import UnsafeWebhookUrl, checked_addresses, refusal

LINK_LOCAL = "a link-local address (such as the cloud metadata server)"


@pytest.mark.parametrize(
    ("address", "private_allowed", "reason"),
    [
        ("::ffff:10.0.0.1", False, "a private address"),  # mapped: judged as the IPv4 one
        ("::ffff:127.0.0.1", True, None),  # ... with the same allowance
        ("::ffff:169.254.169.254", True, LINK_LOCAL),
        ("2002:a00:1::", False, "a private address inside 6to4"),
        ("2002:a00:1::", True, None),
        ("2001:0:4136:e378:8000:63bf:80ff:fffe", True, None),  # Teredo of loopback, allowed
        ("fec0::1", True, "a site-local address"),
        ("64:ff9b:1::1", True, "a local NAT64 address"),
        ("0.0.0.0", True, "an unspecified address"),
        ("::", True, "an unspecified address"),
        ("224.0.0.251", True, "a multicast address"),
        ("ff02::1", True, "a multicast address"),
        ("fe80::1", False, LINK_LOCAL),
        ("127.0.0.1", False, "a loopback address"),
        ("10.0.0.1", False, "a private address"),
        ("192.0.2.1", False, "a private address"),  # documentation range
        ("240.0.0.1", True, "a reserved address"),
        ("100.64.0.1", False, "not a public address"),  # carrier-grade NAT
        ("100.64.0.1", True, None),
        ("8.8.8.8", False, None),
    ],
)
def test_each_refusal_says_what_the_address_is(
    address: str, private_allowed: bool, reason: str | None
) -> None:
    assert refusal(ipaddress.ip_address(address), private_allowed) == reason


def test_private_networks_are_refused_unless_allowed() -> None:
    assert refusal(ipaddress.ip_address("127.0.0.1")) == "a loopback address"
    assert refusal(ipaddress.ip_address("::ffff:10.1.2.3")) == "a private address"


def test_a_literal_address_is_named_once_and_a_name_with_its_address() -> None:
    with pytest.raises(UnsafeWebhookUrl) as literal:
        checked_addresses("127.0.0.1", 80)
    assert str(literal.value) == (
        "webhookUrl host 127.0.0.1 is a loopback address; it is not allowed"
    )
    with pytest.raises(UnsafeWebhookUrl) as named:  # /etc/hosts: 127.0.0.1 and maybe ::1
        checked_addresses("localhost", 443)
    assert re.fullmatch(
        r"webhookUrl host localhost \((127\.0\.0\.1|::1)\) is a loopback address; "
        r"it is not allowed",
        str(named.value),
    )
    allowed = checked_addresses("localhost", 443, allow_private=True)
    assert allowed and all(ip.is_loopback for ip in allowed)
    assert checked_addresses("8.8.8.8", 443) == [ipaddress.ip_address("8.8.8.8")]


def test_a_scoped_address_is_judged_without_its_zone() -> None:
    with pytest.raises(UnsafeWebhookUrl) as refused:
        checked_addresses("fe80::1%lo", 80, allow_private=True)
    assert str(refused.value) == (
        f"webhookUrl host fe80::1%lo (fe80::1) is {LINK_LOCAL}; it is not allowed"
    )


@pytest.mark.parametrize("host", ["", "a..b", "x" * 300])
def test_a_host_that_does_not_resolve_is_a_lookup_error(host: str) -> None:
    with pytest.raises(LookupError, match=r"^could not resolve host ") as failed:
        checked_addresses(host, 80)
    assert not isinstance(failed.value, UnsafeWebhookUrl)


def _answers(monkeypatch: pytest.MonkeyPatch, *addresses: str) -> list[tuple[Any, ...]]:
    """Make the resolver answer ``addresses`` (what a round-robin DNS name can return)."""
    calls: list[tuple[Any, ...]] = []

    def getaddrinfo(host: str, port: int, *args: Any, **kwargs: Any) -> list[tuple[Any, ...]]:
        calls.append((host, port, kwargs))
        return [
            (socket.AF_INET6 if ":" in a else socket.AF_INET, socket.SOCK_STREAM, 6, "", (a, port))
            for a in addresses
        ]

    monkeypatch.setattr(address_guard.socket, "getaddrinfo", getaddrinfo)
    return calls


def test_every_address_of_a_name_is_checked_and_listed_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    calls = _answers(monkeypatch, "8.8.8.8", "8.8.4.4", "8.8.8.8")
    assert checked_addresses("dns.example", 8443) == [
        ipaddress.ip_address("8.8.8.8"),
        ipaddress.ip_address("8.8.4.4"),
    ]
    assert calls == [("dns.example", 8443, {"type": socket.SOCK_STREAM})]
    _answers(monkeypatch, "8.8.8.8", "169.254.169.254")  # one bad address is enough
    with pytest.raises(UnsafeWebhookUrl) as refused:
        checked_addresses("dns.example", 443)
    assert str(refused.value) == (
        f"webhookUrl host dns.example (169.254.169.254) is {LINK_LOCAL}; it is not allowed"
    )


def test_a_resolved_address_is_judged_and_named_without_its_zone(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _answers(monkeypatch, "fe80::1%eth0")
    with pytest.raises(UnsafeWebhookUrl) as refused:
        checked_addresses("router.example", 443)
    assert str(refused.value) == (
        f"webhookUrl host router.example (fe80::1) is {LINK_LOCAL}; it is not allowed"
    )


def test_a_name_with_no_address_is_a_lookup_error(monkeypatch: pytest.MonkeyPatch) -> None:
    _answers(monkeypatch)
    with pytest.raises(LookupError) as failed:
        checked_addresses("empty.example", 443)
    assert str(failed.value) == "host 'empty.example' has no address"
