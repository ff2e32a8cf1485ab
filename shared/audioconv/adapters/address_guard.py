"""The SSRF guard: which addresses a webhook may be sent to.

A URL's host is resolved and refused when any of its addresses is loopback,
private, link-local (the metadata server 169.254.169.254 among them), multicast,
reserved, unspecified or otherwise not public. ``allow_private`` (the embedded
mode, tests) lets loopback and private networks through, never the rest.
"""

from __future__ import annotations

import ipaddress
import socket

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class UnsafeWebhookUrl(ValueError):
    """The URL may not be called; the message says why, in words."""


def refusal(ip: IPAddress, allow_private: bool = False) -> str | None:
    """Why ``ip`` may not be called, or None if it may."""
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped  # ::ffff:127.0.0.1 is 127.0.0.1
    if ip.is_unspecified:
        return "an unspecified address"
    if ip.is_multicast:
        return "a multicast address"
    if ip.is_link_local:
        return "a link-local address (such as the cloud metadata server)"
    if ip.is_loopback:
        return None if allow_private else "a loopback address"
    if ip.is_private and not ip.is_reserved:
        return None if allow_private else "a private address"
    if ip.is_reserved:
        return "a reserved address"
    if not ip.is_global:
        return None if allow_private else "not a public address"
    return None


def resolve(host: str, port: int) -> list[IPAddress]:
    """Every address ``host`` resolves to (an address literal is itself);
    UnsafeWebhookUrl if it resolves to none."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError) as exc:
        raise LookupError(f"could not resolve host {host!r}: {exc}") from None
    found: list[IPAddress] = []
    for *_, sockaddr in infos:
        ip = ipaddress.ip_address(str(sockaddr[0]).split("%", 1)[0])
        if ip not in found:
            found.append(ip)
    if not found:
        raise LookupError(f"host {host!r} has no address")
    return found


def checked_addresses(host: str, port: int, allow_private: bool = False) -> list[IPAddress]:
    """``host``'s addresses, if every one may be called; UnsafeWebhookUrl naming the
    first that may not (one bad address is enough: DNS could hand out any of them).
    LookupError if the host does not resolve."""
    addresses = resolve(host, port)
    for ip in addresses:
        reason = refusal(ip, allow_private)
        if reason is not None:
            shown = host if host == str(ip) else f"{host} ({ip})"
            raise UnsafeWebhookUrl(f"webhookUrl host {shown} is {reason}; it is not allowed")
    return addresses
