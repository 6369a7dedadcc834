"""A job's audio link and webhook, fetched and checked by `hark.net.Fetcher` (the one outbound
client: public addresses only, no redirects, size and time caps, spooled to disk), its failures
worded for job results (`AudioFetchError`, `AudioTooLargeError`)."""

from __future__ import annotations

from hark.jobs.errors import AudioFetchError, AudioTooLargeError, JobInputError
from hark.net import (
    Fetched,
    Fetcher,
    FetchError,
    TooLarge,
    failure_message,
)


def fetch(url: str, fetcher: Fetcher, *, field: str = "audio_url") -> Fetched:
    """GET `url` into a spooled file within the fetcher's caps: http/https only, redirects not
    followed, public addresses only unless it allows others (the host is resolved once,
    checked, and connected to by that address).

    Raises `AudioTooLargeError` over the size cap, `AudioFetchError` for every other failure.
    """
    try:
        return fetcher.get(url)
    except FetchError as exc:
        raise job_error(exc, field, url) from None


def check_link(url: str, *, field: str, allow_private: bool) -> None:
    """Resolve and check `url`'s host now (a webhook when the job is submitted; delivery checks
    it again). Raises `AudioFetchError` when it does not resolve or is not public."""
    try:
        Fetcher(allow_private=allow_private).check_link(url)
    except FetchError as exc:
        raise job_error(exc, field, url) from None


def job_error(exc: FetchError, field: str, url: str) -> JobInputError:
    """A job's error for one way fetching `url` (given in `field`) failed."""
    message = failure_message(exc, field, url)
    return AudioTooLargeError(message) if isinstance(exc, TooLarge) else AudioFetchError(message)
