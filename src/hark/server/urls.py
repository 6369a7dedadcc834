"""Fetch `audio_url` safely: http(s) only, size and time limits, no redirects, no private hosts.

The host is resolved once, every address is checked, and the connection goes to the checked
address (the name is kept for the Host header, TLS SNI and certificate checks), so a DNS answer
that changes between check and connect cannot reach an internal service. Loopback and private
addresses are refused unless `HARK_ALLOW_PRIVATE_URLS` is set (tests, trusted networks).
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket

import httpx

from hark.server.errors import ApiError, invalid
from hark.server.uploads import Upload, new_spool, too_large

_CHUNK = 64 * 1024


async def fetch_audio(url: str, *, max_bytes: int, timeout: float, allow_private: bool) -> Upload:
    """Download `url` into a spooled file; ApiError for every way it can fail."""
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, TypeError, ValueError):
        raise invalid("audio_url", "not a valid URL") from None
    if parsed.scheme not in ("http", "https") or not parsed.host:
        raise invalid("audio_url", "only http:// and https:// URLs are accepted")
    try:
        async with asyncio.timeout(timeout):
            address = await _checked_address(parsed, allow_private)
            return await _download(parsed, address, max_bytes, timeout)
    except TimeoutError:
        raise ApiError(
            400, "audio_url_failed", f"fetching audio_url took longer than {timeout:g} s"
        ) from None


async def _checked_address(url: httpx.URL, allow_private: bool) -> str:
    port = url.port or (443 if url.scheme == "https" else 80)
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(
            url.host, port, type=socket.SOCK_STREAM
        )
    except (OSError, UnicodeError) as exc:
        raise ApiError(400, "audio_url_failed", f"cannot resolve {url.host!r}: {exc}") from None
    addresses = [ipaddress.ip_address(info[4][0].split("%")[0]) for info in infos]
    if not allow_private:
        for ip in addresses:
            if not ip.is_global or ip.is_multicast:
                raise invalid(
                    "audio_url",
                    f"{url.host!r} resolves to a non-public address ({ip}); refused",
                )
    return str(addresses[0])


async def _download(url: httpx.URL, address: str, max_bytes: int, timeout: float) -> Upload:
    target = url.copy_with(host=address)
    headers = {"Host": url.netloc.decode("ascii"), "Accept": "audio/*, video/*, */*"}
    spool = new_spool()
    size = 0
    try:
        async with (
            httpx.AsyncClient(follow_redirects=False, timeout=timeout, trust_env=False) as client,
            client.stream(
                "GET", target, headers=headers, extensions={"sni_hostname": url.host}
            ) as response,
        ):
            _check_status(response)
            declared = response.headers.get("content-length", "")
            if declared.isdigit() and int(declared) > max_bytes:
                raise too_large(max_bytes)
            async for chunk in response.aiter_bytes(_CHUNK):
                size += len(chunk)
                if size > max_bytes:
                    raise too_large(max_bytes)
                spool.write(chunk)
    except httpx.HTTPError as exc:
        spool.close()
        raise ApiError(
            400, "audio_url_failed", f"fetching audio_url failed: {type(exc).__name__}: {exc}"
        ) from None
    except BaseException:
        spool.close()
        raise
    spool.seek(0)
    name = url.path.rsplit("/", 1)[-1] or None
    return Upload(spool, name, size)


def _check_status(response: httpx.Response) -> None:
    status = response.status_code
    if 300 <= status < 400:
        where = response.headers.get("location", "elsewhere")
        raise ApiError(
            400,
            "audio_url_failed",
            f"audio_url redirects ({status}) to {where}; redirects are not followed, "
            "send the final URL",
        )
    if status >= 400:
        raise ApiError(400, "audio_url_failed", f"audio_url answered HTTP {status}")
