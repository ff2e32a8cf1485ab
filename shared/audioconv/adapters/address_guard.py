"""The SSRF guard: which addresses a webhook may be sent to.

A URL's host is resolved and refused when any of its addresses is loopback,
private, link-local (the metadata server 169.254.169.254 among them), multicast,
reserved, unspecified, site-local or otherwise not public; an IPv6 address that
carries an IPv4 one (IPv4-mapped, 6to4, Teredo, NAT64) is judged by what it carries.
``allow_private`` (the embedded mode, tests) lets loopback and private networks
through, never the rest.
"""

from __future__ import annotations

import ipaddress
import socket

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class UnsafeWebhookUrl(ValueError):
    """The URL may not be called; the message says why, in words."""


# NAT64's well-known prefix (RFC 6052): the last 32 bits are an IPv4 address; its
# local-use prefix (RFC 8215) translates into whatever network the operator chose.
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
_NAT64_LOCAL = ipaddress.IPv6Network("64:ff9b:1::/48")


def _embedded(ip: ipaddress.IPv6Address) -> tuple[str, list[ipaddress.IPv4Address]] | None:
    """The IPv4 addresses an IPv6 address carries (and how), where it is routed by
    them: IPv4-mapped, 6to4 (2002::/16), Teredo (2001::/32: its server and client),
    NAT64 (64:ff9b::/96). Judged by the addresses themselves, not by ``ipaddress``'s
    tables of special networks, which differ between Python versions."""
    if ip.ipv4_mapped is not None:
        return "IPv4-mapped", [ip.ipv4_mapped]
    if ip.sixtofour is not None:
        return "6to4", [ip.sixtofour]
    if ip.teredo is not None:
        return "Teredo", list(ip.teredo)
    if ip in _NAT64:
        return "NAT64", [ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)]
    return None


def refusal(ip: IPAddress, allow_private: bool = False) -> str | None:
    """Why ``ip`` may not be called, or None if it may."""
    if isinstance(ip, ipaddress.IPv6Address):
        carried = _embedded(ip)
        if carried is not None:
            how, inside = carried
            for address in inside:
                reason = refusal(address, allow_private)
                if reason is not None:
                    return reason if how == "IPv4-mapped" else f"{reason} inside {how}"
            return None
        if ip.is_site_local:  # fec0::/10: deprecated, but still routed inside some sites
            return "a site-local address"
        if ip in _NAT64_LOCAL:
            return "a local NAT64 address"
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
