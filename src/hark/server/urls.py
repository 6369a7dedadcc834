"""Fetch `audio_url` for the HTTP API: `hark.net.Fetcher` (the one outbound client: public
addresses only, no redirects, size and time caps, spooled to disk), its failures worded as the
API's errors (400 `audio_url_failed`, 413 `upload_too_large`, 422 for a malformed link)."""

from __future__ import annotations

from hark.net import (
    FetchError,
    InvalidLink,
    TooLarge,
    failure_message,
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
        raise api_error(exc, url) from None
    return Upload(fetched.file, fetched.name, fetched.size)


def api_error(exc: FetchError, url: str) -> ApiError:
    """The API's answer for one way fetching `audio_url` failed, in the fetcher's wording."""
    if isinstance(exc, InvalidLink):
        return invalid("audio_url", exc.reason)
    if isinstance(exc, TooLarge):
        return too_large(exc.limit)
    return ApiError(400, "audio_url_failed", failure_message(exc, "audio_url", url))
