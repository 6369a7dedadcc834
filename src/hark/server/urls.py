"""Fetch `audio_url` safely: http(s) only, size and time limits, no redirects, no private hosts
(the address policy is `hark.net`'s, shared with jobs and the RunPod worker)."""

from __future__ import annotations

import asyncio
import socket

import httpx

from hark.net import NonPublicAddressError, checked_address, pinned_request, port_of
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
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(
            url.host, port_of(url), type=socket.SOCK_STREAM
        )
    except (OSError, UnicodeError) as exc:
        raise ApiError(400, "audio_url_failed", f"cannot resolve {url.host!r}: {exc}") from None
    try:
        return checked_address(infos, allow_private=allow_private)
    except NonPublicAddressError as exc:
        raise ApiError(
            400,
            "audio_url_failed",
            f"audio_url: {url.host!r} resolves to a non-public address ({exc.address}); refused",
        ) from None
    except OSError as exc:
        raise ApiError(400, "audio_url_failed", f"cannot resolve {url.host!r}: {exc}") from None


async def _download(url: httpx.URL, address: str, max_bytes: int, timeout: float) -> Upload:
    spool = new_spool()
    size = 0
    try:
        async with (
            httpx.AsyncClient(follow_redirects=False, timeout=timeout, trust_env=False) as client,
            client.stream("GET", **pinned_request(url, address)) as response,
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
