"""Fetch `audio_url` for the HTTP API: `hark.net.Fetcher` (the one outbound client: public
addresses only, no redirects, size and time caps, spooled to disk), its failures worded as the
API's errors (400 `audio_url_failed`, 413 `upload_too_large`, 422 for a malformed link)."""

from __future__ import annotations

from hark.net import (
    BadStatus,
    FetchError,
    InvalidLink,
    NonPublicAddressError,
    Redirected,
    TimedOut,
    TooLarge,
    TransferFailed,
    UnresolvableHost,
)
from hark.policy import RequestPolicy
from hark.server.errors import ApiError, invalid
from hark.server.uploads import SPOOL_BYTES, Upload, too_large


async def fetch_audio(url: str, policy: RequestPolicy) -> Upload:
    """Download `url` into a spooled file with the policy's caps; ApiError for every way it
    can fail."""
    fetcher = policy.fetcher(spool_bytes=SPOOL_BYTES)
    try:
        fetched = await fetcher.aget(url)
    except FetchError as exc:
        raise api_error(exc) from None
    return Upload(fetched.file, fetched.name, fetched.size)


def api_error(exc: FetchError) -> ApiError:
    """The API's answer for one way fetching `audio_url` failed."""
    if isinstance(exc, InvalidLink):
        return invalid("audio_url", exc.reason)
    if isinstance(exc, TooLarge):
        return too_large(exc.limit)
    if isinstance(exc, UnresolvableHost):
        message = f"cannot resolve {exc.host!r}: {exc.detail}"
    elif isinstance(exc, NonPublicAddressError):
        message = (
            f"audio_url: {exc.host!r} resolves to a non-public address ({exc.address}); refused"
        )
    elif isinstance(exc, TimedOut):
        message = f"fetching audio_url took longer than {exc.timeout:g} s"
    elif isinstance(exc, Redirected):
        message = (
            f"audio_url redirects ({exc.status}) to {exc.location or 'elsewhere'}; "
            "redirects are not followed, send the final URL"
        )
    elif isinstance(exc, BadStatus):
        message = f"audio_url answered HTTP {exc.status}"
    elif isinstance(exc, TransferFailed):
        message = f"fetching audio_url failed: {type(exc.cause).__name__}: {exc.cause}"
    else:
        message = f"fetching audio_url failed: {exc}"
    return ApiError(400, "audio_url_failed", message)
