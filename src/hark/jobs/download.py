"""A job's audio link and webhook, fetched and checked by `hark.net.Fetcher` (the one outbound
client: public addresses only, no redirects, size and time caps, spooled to disk), its failures
worded for job results (`AudioFetchError`, `AudioTooLargeError`)."""

from __future__ import annotations

from hark.jobs.errors import AudioFetchError, AudioTooLargeError, JobInputError, quoted
from hark.net import (
    BadStatus,
    Fetched,
    Fetcher,
    FetchError,
    NonPublicAddressError,
    Redirected,
    TimedOut,
    TooLarge,
    UnresolvableHost,
)
from hark.units import format_mib


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


def download(
    url: str,
    *,
    field: str = "audio_url",
    max_bytes: int | None = None,
    timeout: float = 60.0,
    allow_private: bool = False,
) -> bytes:
    """`fetch` with these caps, as bytes in memory."""
    fetcher = Fetcher(allow_private=allow_private, timeout_s=timeout, max_bytes=max_bytes)
    with fetch(url, fetcher, field=field) as fetched:
        return fetched.read()


def check_link(url: str, *, field: str, allow_private: bool) -> None:
    """Resolve and check `url`'s host now (a webhook when the job is submitted; delivery checks
    it again). Raises `AudioFetchError` when it does not resolve or is not public."""
    try:
        Fetcher(allow_private=allow_private).check_link(url)
    except FetchError as exc:
        raise job_error(exc, field, url) from None


def job_error(exc: FetchError, field: str, url: str) -> JobInputError:
    """A job's message for one way fetching `url` (given in `field`) failed."""
    link = quoted(url)
    if isinstance(exc, TooLarge):
        actual = f" ({format_mib(exc.size)})" if exc.size is not None else ""
        return AudioTooLargeError(
            f"{field} {link} is over the {format_mib(exc.limit)} download limit{actual}; "
            "send a shorter or more compressed file"
        )
    if isinstance(exc, UnresolvableHost):
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
    return AudioFetchError(message)
