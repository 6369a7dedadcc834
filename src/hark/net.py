"""The one policy for fetching audio from a user's link (HTTP `audio_url`, jobs, RunPod).

The host is resolved once, every address is checked, and the connection goes to the checked
address, with the name kept for the Host header, TLS SNI and certificate checks. A DNS answer
that changes between the check and the connection therefore cannot reach an internal service.
Loopback, private, link-local and multicast addresses are refused unless private links are
allowed (`HARK_ALLOW_PRIVATE_URLS`: tests, trusted networks).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from typing import Any

import httpx

ACCEPT_MEDIA = "audio/*, video/*, */*"


class NonPublicAddressError(ValueError):
    """The link's host resolves to an address that is not public."""

    def __init__(self, address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> None:
        super().__init__(f"non-public address {address}")
        self.address = address


def port_of(url: httpx.URL) -> int:
    return url.port or (443 if url.scheme == "https" else 80)


def checked_address(infos: Sequence[Any], *, allow_private: bool) -> str:
    """The address to connect to, from `getaddrinfo` results; raises NonPublicAddressError
    when any address of the host is not public (unless `allow_private`)."""
    addresses = [ipaddress.ip_address(str(info[4][0]).split("%")[0]) for info in infos]
    if not allow_private:
        for ip in addresses:
            if not ip.is_global or ip.is_multicast:
                raise NonPublicAddressError(ip)
    return str(addresses[0])


def pinned_request(url: httpx.URL, address: str) -> dict[str, Any]:
    """Arguments for `client.stream("GET", **...)` that connect to `address` while speaking to
    the host named in `url` (Host header, TLS SNI)."""
    return {
        "url": url.copy_with(host=address),
        "headers": {"Host": url.netloc.decode("ascii"), "Accept": ACCEPT_MEDIA},
        "extensions": {"sni_hostname": url.host},
    }
