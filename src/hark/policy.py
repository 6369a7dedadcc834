"""The one request policy: what a request may ask of this server, built once from `Settings`.

Every surface that takes requests from others (the HTTP routes, the jobs API and its workers,
the RunPod worker) parses a request in its own syntax (query strings, form fields, job JSON)
into `TranscribeOptions`, then hands it to `RequestPolicy.options`, which applies the limits:
the model options only name what the operator made available (`hark.model_access`), the batch
size defaults to `HARK_BATCH_SIZE`, and the audio is capped at `HARK_MAX_AUDIO_SECONDS`. The
sizes (`HARK_MAX_UPLOAD_MB`, MiB), the outbound fetcher (`HARK_URL_TIMEOUT_S`,
`HARK_ALLOW_PRIVATE_URLS`) and the deadlines (`HARK_REQUEST_TIMEOUT_S`, `HARK_JOB_TIMEOUT_S`)
come from here too, so one setting means one limit on every surface. A refusal is one
`PolicyError` (a stable `code` and a message that says what to change); each surface answers
it in its own shape (HTTP 422, a FAILED job, a RunPod `error`).

The Python API and the CLI apply no policy: whoever runs them already owns the machine.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

from hark.model_access import ModelNotAllowed, allowed_models
from hark.net import Fetcher
from hark.units import MIB, mib_bytes

if TYPE_CHECKING:
    from hark.options import TranscribeOptions
    from hark.settings import Settings


class PolicyError(ValueError):
    """A request asks for something the server's policy does not allow.

    `code` is stable (`invalid_parameter`: an option the server does not offer, such as a model
    outside the operator's list); `field` names the option when there is one.
    """

    def __init__(self, message: str, *, code: str = "invalid_parameter", field: str | None = None):
        super().__init__(message)
        self.code = code
        self.field = field


@dataclass(frozen=True)
class RequestPolicy:
    settings: Settings
    """Kept for the model allow-list (`HARK_MODELS_DIR`, `HARK_ALLOWED_MODELS`, downloads)."""
    max_upload_bytes: int
    """The largest audio accepted, uploaded, inline or downloaded (`HARK_MAX_UPLOAD_MB`)."""
    max_audio_seconds: float
    """The longest audio accepted; a request may ask for less, never more."""
    default_batch_size: int | None
    url_timeout_s: float
    allow_private_urls: bool
    request_timeout_s: float
    """Deadline of one sync request's work (0: none)."""
    job_timeout_s: float
    """Execution limit of one job, and the most a job may ask for (0: none)."""

    @classmethod
    def from_settings(cls, settings: Settings) -> RequestPolicy:
        return cls(
            settings=settings,
            max_upload_bytes=mib_bytes(settings.max_upload_mb),
            max_audio_seconds=settings.max_audio_seconds,
            default_batch_size=settings.batch_size,
            url_timeout_s=settings.url_timeout_s,
            allow_private_urls=settings.allow_private_urls,
            request_timeout_s=settings.request_timeout_s,
            job_timeout_s=settings.job_timeout_s,
        )

    def options(self, options: TranscribeOptions) -> TranscribeOptions:
        """`options` as this server runs them: model names checked (and `HARK_MODELS_DIR`
        names made paths), the default batch size filled in, the duration capped. Raises
        `PolicyError` for a model the operator did not make available."""
        options = self._models(options)
        limit = self.max_audio_seconds
        if options.max_duration is not None:
            limit = min(limit, options.max_duration)
        update: dict[str, object] = {"max_duration": limit}
        if options.batch_size is None and self.default_batch_size:
            update["batch_size"] = self.default_batch_size
        return options.model_copy(update=update)

    def check_models(self, options: TranscribeOptions) -> None:
        """PolicyError when `options` name a model the operator did not make available (at
        submission: the job fails at once instead of waiting for a worker)."""
        self._models(options)

    def _models(self, options: TranscribeOptions) -> TranscribeOptions:
        try:
            return allowed_models(options, self.settings)
        except ModelNotAllowed as exc:
            raise PolicyError(str(exc), field=exc.field) from None

    def fetcher(self, spool_bytes: int = MIB) -> Fetcher:
        """The outbound client for a request's audio link, with this policy's caps."""
        return Fetcher(
            allow_private=self.allow_private_urls,
            timeout_s=self.url_timeout_s,
            max_bytes=self.max_upload_bytes,
            spool_bytes=spool_bytes,
        )

    def job_timeout(self, requested_s: float = 0.0) -> float:
        """A job's execution limit: what it asked for (`policy.executionTimeout`), never more
        than the server's; 0 when neither sets one."""
        limits = [t for t in (requested_s, self.job_timeout_s) if t > 0]
        return min(limits, default=0.0)

    def job_deadline(self, started: float, requested_s: float = 0.0) -> float:
        """The `time.monotonic()` past which a job started at `started` must stop (inf: none)."""
        return started + (self.job_timeout(requested_s) or math.inf)
