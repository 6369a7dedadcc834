"""A `/run` body -> a new `Job` and its audio bytes, as RunPod accepts it.

`{"input": {...}, "webhook": "https://..."?, "policy": {"executionTimeout": ms}?}`. An input
that cannot run (bad base64, unknown option, no audio) still becomes a job, FAILED at once with
the reason, as a RunPod worker would report it; only a body that is not a job at all is refused.
"""

from __future__ import annotations

import time
from typing import Any
from urllib.parse import urlsplit

from hark.jobs.errors import JobInputError
from hark.jobs.input import JobInput
from hark.jobs.records import Job, Status
from hark.options import TranscribeOptions


class BadJobRequest(ValueError):
    """The body is not a job request (HTTP 400)."""


def new_job(body: Any, max_bytes: int) -> tuple[Job, bytes | None]:
    if not isinstance(body, dict) or "input" not in body:
        raise BadJobRequest('the body must be a JSON object {"input": {...}}')
    job = Job(webhook=_webhook(body.get("webhook")), timeout_s=_timeout(body.get("policy")))
    try:
        request = JobInput.parse(body["input"])
        audio = None if request.url else request.inline_audio(max_bytes)
    except JobInputError as exc:
        job.status, job.error, job.finished_at = Status.FAILED, str(exc)[:2000], time.time()
        return job, None
    job.audio_url = request.url
    job.output_formats = list(request.output_formats)
    job.options = request.model_dump(
        mode="json", include=set(TranscribeOptions.model_fields), exclude_unset=True
    )
    return job, audio


def _webhook(value: Any) -> str | None:
    if value is None or value == "":
        return None
    parts = urlsplit(value) if isinstance(value, str) else None
    if parts is None or parts.scheme not in ("http", "https") or not parts.hostname:
        raise BadJobRequest("webhook must be an http:// or https:// URL")
    return str(value)


def _timeout(policy: Any) -> float:
    if policy is None:
        return 0.0
    value = policy.get("executionTimeout") if isinstance(policy, dict) else None
    if value is None:
        return 0.0
    if not isinstance(value, int | float) or value <= 0:
        raise BadJobRequest("policy.executionTimeout must be a positive number of milliseconds")
    return float(value) / 1000.0
