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

`Fetcher` is the one outbound client built on that policy: `get` (blocking, for job workers) and
`aget` (async, for the HTTP API) download a link into a file spooled to disk above a threshold,
within a size cap and one deadline for resolving, connecting and reading; `post` sends a webhook.
Both faces share the checks (`_Body`), so the limits cannot drift apart. Failures raise
`FetchError` subclasses carrying the facts (status, limit, address...); each surface words them
in its own vocabulary (`hark.server.urls`, `hark.jobs.download`).
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import IO, Any

import httpx

from hark.units import MIB, format_mib

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


class FetchError(Exception):
    """An outbound request failed; the subclass says how, its attributes give the facts."""


class InvalidLink(FetchError, ValueError):
    """Not an http(s) URL with a host."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class UnresolvableHost(FetchError, OSError):
    """The link's host does not resolve (or has no address)."""

    def __init__(self, host: str, detail: str) -> None:
        super().__init__(f"cannot resolve {host!r}: {detail}")
        self.host = host
        self.detail = detail


class NonPublicAddressError(FetchError, ValueError):
    """The link's host resolves to an address that is not public."""

    def __init__(
        self, address: ipaddress.IPv4Address | ipaddress.IPv6Address, host: str | None = None
    ) -> None:
        super().__init__(f"non-public address {address}")
        self.address = address
        self.host = host


class Redirected(FetchError):
    """The link answered with a redirect (never followed)."""

    def __init__(self, status: int, location: str | None) -> None:
        super().__init__(f"redirect (HTTP {status}) to {location}")
        self.status = status
        self.location = location


class BadStatus(FetchError):
    """The link answered with an HTTP error status."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(f"HTTP {status} {reason}")
        self.status = status
        self.reason = reason


class TooLarge(FetchError):
    """The body is over the size cap; `size` is the declared length when there was one."""

    def __init__(self, limit: int, size: int | None) -> None:
        super().__init__(f"over the {limit} byte limit")
        self.limit = limit
        self.size = size


class TimedOut(FetchError):
    """Resolving, connecting and reading took longer than the fetcher's time cap."""

    def __init__(self, timeout: float) -> None:
        super().__init__(f"took longer than {timeout:g} s")
        self.timeout = timeout


class TransferFailed(FetchError):
    """The connection or the transfer failed (refused, reset, TLS...); `cause` says how."""

    def __init__(self, cause: Exception) -> None:
        super().__init__(str(cause) or type(cause).__name__)
        self.cause = cause


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


def parse_link(url: str) -> httpx.URL:
    """`url` parsed; InvalidLink unless it is an http(s) URL with a host."""
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, TypeError, ValueError):
        raise InvalidLink("not a valid URL") from None
    if parsed.scheme not in ("http", "https") or not parsed.host:
        raise InvalidLink("only http:// and https:// URLs are accepted")
    return parsed


@dataclass
class Fetched:
    """A downloaded body in a seekable file positioned at 0; `close()` frees it."""

    file: IO[bytes]
    size: int
    name: str | None
    """The last path component of the link, when there is one (for messages and formats)."""

    def read(self) -> bytes:
        self.file.seek(0)
        data = self.file.read()
        self.file.seek(0)
        return data

    def close(self) -> None:
        self.file.close()

    def __enter__(self) -> Fetched:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()


CHUNK_BYTES = 64 * 1024


@dataclass(frozen=True)
class Fetcher:
    """The one outbound client: the address policy plus a size cap and a time cap.

    `timeout_s` bounds the whole fetch (resolving, connecting, every read), not each step.
    `max_bytes=None` means no size cap. Bodies are kept in memory up to `spool_bytes`, then
    on disk, so a large download never sits whole in memory.
    """

    allow_private: bool = False
    timeout_s: float = 60.0
    max_bytes: int | None = None
    spool_bytes: int = MIB

    # -- addresses ---------------------------------------------------------------------

    def address(self, url: httpx.URL) -> str:
        """The checked address to connect to for `url` (blocking DNS)."""
        try:
            infos = socket.getaddrinfo(url.host, port_of(url), type=socket.SOCK_STREAM)
        except (OSError, UnicodeError) as exc:
            raise UnresolvableHost(url.host, str(exc)) from None
        return self._checked(url, infos)

    async def aaddress(self, url: httpx.URL) -> str:
        """`address` without blocking the event loop."""
        try:
            infos = await asyncio.get_running_loop().getaddrinfo(
                url.host, port_of(url), type=socket.SOCK_STREAM
            )
        except (OSError, UnicodeError) as exc:
            raise UnresolvableHost(url.host, str(exc)) from None
        return self._checked(url, infos)

    def _checked(self, url: httpx.URL, infos: Sequence[Any]) -> str:
        try:
            return checked_address(infos, allow_private=self.allow_private)
        except NonPublicAddressError as exc:
            raise NonPublicAddressError(exc.address, url.host) from None
        except OSError as exc:  # no address at all
            raise UnresolvableHost(url.host, str(exc)) from None

    def check_link(self, url: str) -> str:
        """Parse `url` and check its host now (a webhook at submission): the address."""
        return self.address(parse_link(url))

    # -- GET -----------------------------------------------------------------------------

    def get(self, url: str) -> Fetched:
        """Download `url` (blocking); FetchError for every way it can fail."""
        deadline = time.monotonic() + self.timeout_s
        parsed = parse_link(url)
        address = self.address(parsed)
        body = _Body(self, parsed, deadline)
        try:
            with (
                self._client(deadline) as client,
                client.stream("GET", **pinned_request(parsed, address)) as response,
            ):
                body.start(response)
                for chunk in response.iter_bytes(CHUNK_BYTES):
                    body.add(chunk)
        except BaseException as exc:
            body.discard()
            raise _fetch_error(exc, self.timeout_s) from None
        return body.done()

    async def aget(self, url: str) -> Fetched:
        """Download `url` without blocking the event loop; FetchError for every failure."""
        deadline = time.monotonic() + self.timeout_s
        parsed = parse_link(url)
        body: _Body | None = None
        try:
            async with asyncio.timeout(self.timeout_s):  # DNS included
                address = await self.aaddress(parsed)
                body = _Body(self, parsed, deadline)
                async with (
                    httpx.AsyncClient(**self._client_args(deadline)) as client,
                    client.stream("GET", **pinned_request(parsed, address)) as response,
                ):
                    body.start(response)
                    async for chunk in response.aiter_bytes(CHUNK_BYTES):
                        body.add(chunk)
        except BaseException as exc:
            if body is not None:
                body.discard()
            raise _fetch_error(exc, self.timeout_s) from None
        return body.done()

    # -- POST (webhooks) -----------------------------------------------------------------

    def post(self, url: str, content: bytes, headers: dict[str, str]) -> httpx.Response:
        """POST `content` to `url`, resolved and checked now and sent to the checked address
        (a name that turned private since it was accepted reaches nothing). The answer's
        body is not read."""
        deadline = time.monotonic() + self.timeout_s
        parsed = parse_link(url)
        address = self.address(parsed)
        try:
            with self._client(deadline) as client:
                request = pinned_request(parsed, address, headers)
                with client.stream("POST", content=content, **request) as response:
                    return response
        except BaseException as exc:
            raise _fetch_error(exc, self.timeout_s) from None

    def _client_args(self, deadline: float) -> dict[str, Any]:
        left = max(0.001, deadline - time.monotonic())
        # Redirects are never followed: the checked address is the only one connected to.
        return {"timeout": left, "follow_redirects": False, "trust_env": False}

    def _client(self, deadline: float) -> httpx.Client:
        return httpx.Client(**self._client_args(deadline))


class _Body:
    """What both GET faces check while receiving: status, declared and actual size, deadline."""

    def __init__(self, fetcher: Fetcher, url: httpx.URL, deadline: float) -> None:
        self.url = url
        self.limit = fetcher.max_bytes
        self.timeout = fetcher.timeout_s
        self.deadline = deadline
        self.size = 0
        # Handed to the caller in `Fetched` (which closes it), so no `with` here.
        self.file: IO[bytes] = tempfile.SpooledTemporaryFile(  # noqa: SIM115
            max_size=fetcher.spool_bytes
        )

    def start(self, response: httpx.Response) -> None:
        status = response.status_code
        if 300 <= status < 400:
            raise Redirected(status, response.headers.get("location"))
        if status >= 400:
            raise BadStatus(status, response.reason_phrase)
        declared = response.headers.get("content-length", "")
        if self.limit is not None and declared.isdigit() and int(declared) > self.limit:
            raise TooLarge(self.limit, int(declared))

    def add(self, chunk: bytes) -> None:
        self.size += len(chunk)
        if self.limit is not None and self.size > self.limit:
            raise TooLarge(self.limit, None)
        if time.monotonic() > self.deadline:  # a slow trickle stays under each read timeout
            raise TimedOut(self.timeout)
        self.file.write(chunk)

    def discard(self) -> None:
        self.file.close()

    def done(self) -> Fetched:
        self.file.seek(0)
        name = self.url.path.rsplit("/", 1)[-1] or None
        return Fetched(self.file, self.size, name)


def _fetch_error(exc: BaseException, timeout: float) -> BaseException:
    """`exc` as a FetchError where it is one of the transfer's failures; else unchanged."""
    if isinstance(exc, FetchError):
        return exc
    if isinstance(exc, TimeoutError | httpx.TimeoutException):
        return TimedOut(timeout)
    if isinstance(exc, httpx.HTTPError | httpx.InvalidURL | OSError):
        return TransferFailed(exc)
    return exc


def failure_message(exc: FetchError, field: str, url: str) -> str:
    """One wording, for every surface, of one way fetching `url` (given in `field`) failed:
    what happened and what to do."""
    link = quoted(url)
    if isinstance(exc, TooLarge):
        actual = f" ({format_mib(exc.size)})" if exc.size is not None else ""
        message = (
            f"{field} {link} is over the {format_mib(exc.limit)} download limit{actual}; "
            "send a shorter or more compressed file"
        )
    elif isinstance(exc, UnresolvableHost):
        message = f"{field} {link}: cannot resolve {exc.host!r} ({exc.detail})"
    elif isinstance(exc, NonPublicAddressError):
        message = (
            f"{field} {link} points to a non-public address ({exc.address}); links must be "
            "public (HARK_ALLOW_PRIVATE_URLS=true allows others on trusted networks)"
        )
    elif isinstance(exc, Redirected):
        message = (
            f"{field} {link} redirects (HTTP {exc.status}) to {quoted(exc.location or '?')}; "
            "redirects are not followed, so give the final link"
        )
    elif isinstance(exc, BadStatus):
        message = (
            f"downloading {field} {link} failed: HTTP {exc.status} {exc.reason}; check that "
            "the link is public and still valid"
        )
    elif isinstance(exc, TimedOut):
        message = (
            f"downloading {field} {link} took longer than {exc.timeout:g} s; use a faster host "
            "or a smaller file"
        )
    else:  # TransferFailed, InvalidLink: what went wrong, as the client library says it
        message = f"downloading {field} {link} failed: {exc}"
    return message


def quoted(value: str, limit: int = 80) -> str:
    """`value` quoted for a message, cut to `limit` characters (links can be huge)."""
    return repr(value if len(value) <= limit else value[: limit - 3] + "...")
