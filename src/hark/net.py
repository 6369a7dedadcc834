"""The one policy for fetching audio from a user's link (HTTP `audio_url`, jobs, RunPod).

The host is resolved once, every address is checked, and the connection goes to the checked
address, with the name kept for the Host header, TLS SNI and certificate checks. A DNS answer
that changes between the check and the connection therefore cannot reach an internal service.
Every address that is not plainly public is refused unless private links are allowed
(`HARK_ALLOW_PRIVATE_URLS`: tests, trusted networks): loopback, private, link-local, shared,
reserved, multicast, and every IPv6 form that carries or reaches an IPv4 address (NAT64, 6to4,
Teredo, IPv4-mapped and -compatible), since those can lead back to an internal IPv4 host and
`ipaddress.is_global` calls several of them global. Redirects are never followed (audio links,
webhooks), so the checked address is the only one ever connected to.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Sequence
from typing import Any

import httpx

ACCEPT_MEDIA = "audio/*, video/*, */*"

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

# Ranges refused on top of what `is_global` says: translation and tunnelling prefixes that
# embed an IPv4 address, and IPv4 ranges Python still calls global.
_NOT_PUBLIC = tuple(
    ipaddress.ip_network(n)
    for n in (
        "::/96",  # IPv4-compatible (deprecated), also :: and ::1
        "::ffff:0:0/96",  # IPv4-mapped
        "::ffff:0:0:0/96",  # IPv4-translated (SIIT)
        "64:ff9b::/96",  # NAT64, well-known prefix
        "64:ff9b:1::/48",  # NAT64, local-use prefix
        "2002::/16",  # 6to4
        "2001::/32",  # Teredo
        "100::/64",  # discard-only
        "2001:db8::/32",  # documentation
        "fc00::/7",  # unique local
        "fe80::/10",  # link-local
        "fec0::/10",  # site-local (deprecated)
        "192.88.99.0/24",  # 6to4 relay anycast
        "100.64.0.0/10",  # shared address space (carrier-grade NAT)
        "0.0.0.0/8",
        "255.255.255.255/32",
    )
)


class NonPublicAddressError(ValueError):
    """The link's host resolves to an address that is not public."""

    def __init__(self, address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> None:
        super().__init__(f"non-public address {address}")
        self.address = address


def port_of(url: httpx.URL) -> int:
    return url.port or (443 if url.scheme == "https" else 80)


def is_public(ip: IPAddress) -> bool:
    """Whether `ip` may be connected to on a user's behalf: the one address policy."""
    if ip.is_multicast or ip.is_reserved or ip.is_unspecified or ip.is_loopback:
        return False
    if any(ip.version == net.version and ip in net for net in _NOT_PUBLIC):
        return False
    return ip.is_global


def checked_address(infos: Sequence[Any], *, allow_private: bool) -> str:
    """The address to connect to, from `getaddrinfo` results; raises NonPublicAddressError
    when any address of the host is not public (unless `allow_private`)."""
    addresses = [ipaddress.ip_address(str(info[4][0]).split("%")[0]) for info in infos]
    if not addresses:
        raise OSError("the host has no address")
    if not allow_private:
        for ip in addresses:
            if not is_public(ip):
                raise NonPublicAddressError(ip)
    return str(addresses[0])


def resolve_checked(url: httpx.URL, *, allow_private: bool) -> str:
    """Resolve `url`'s host (blocking) and check every address; OSError when it does not
    resolve, NonPublicAddressError when an address is not public."""
    infos = socket.getaddrinfo(url.host, port_of(url), type=socket.SOCK_STREAM)
    return checked_address(infos, allow_private=allow_private)


def pinned_request(
    url: httpx.URL, address: str, headers: dict[str, str] | None = None
) -> dict[str, Any]:
    """Arguments for `client.stream("GET", **...)` (or `client.post`) that connect to
    `address` while speaking to the host named in `url` (Host header, TLS SNI)."""
    return {
        "url": url.copy_with(host=address),
        "headers": {"Host": url.netloc.decode("ascii"), "Accept": ACCEPT_MEDIA, **(headers or {})},
        "extensions": {"sni_hostname": url.host},
    }
