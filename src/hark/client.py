"""A client for the jobs API: a Hark server, or a RunPod endpoint (same paths and JSON).

    client = Client("http://localhost:9080")                       # Hark
    client = Client("https://api.runpod.ai/v2/ENDPOINT_ID", api_key="rpa_...")  # RunPod
    output = client.transcribe("meeting.mp3", language="en", output_formats=["srt"])

Requests that meet 429, 5xx or a connection error are retried with exponential backoff
(honouring `Retry-After`); `transcribe` polls `/status` with growing intervals.
"""

from __future__ import annotations

import base64
import contextlib
import os
import time
import uuid
from pathlib import Path
from typing import Any

import httpx

FINAL = ("COMPLETED", "FAILED", "CANCELLED", "TIMED_OUT")


class ClientError(RuntimeError):
    """The server refused the request (4xx) or kept failing."""

    def __init__(self, message: str, status_code: int | None = None) -> None:
        super().__init__(message)
        self.status_code = status_code


class JobFailed(ClientError):
    """The job ended FAILED, CANCELLED or TIMED_OUT; `job` is its last status."""

    def __init__(self, job: dict[str, Any]) -> None:
        detail = job.get("error") or job["status"].lower()
        super().__init__(f"job {job.get('id')} {job['status']}: {detail}")
        self.job = job


class Client:
    def __init__(
        self,
        base_url: str,
        api_key: str | None = None,
        *,
        timeout: float = 60.0,
        retries: int = 5,
        backoff: float = 0.5,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self.retries = retries
        self.backoff = backoff
        self._http = httpx.Client(
            base_url=base_url.rstrip("/"), headers=headers, timeout=timeout, transport=transport
        )

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    # -- the protocol --------------------------------------------------------------------

    def run(
        self, input: dict[str, Any], *, webhook: str | None = None, **extra: Any
    ) -> dict[str, Any]:
        """Queue a job: `{"id", "status"}`. Retries after a lost answer carry the same
        `Idempotency-Key`, so a Hark server never queues the job twice."""
        return self._request(
            "POST", "/run", json=_body(input, webhook, extra), headers=_idempotency_key()
        )

    def runsync(
        self, input: dict[str, Any], *, wait_ms: int | None = None, **extra: Any
    ) -> dict[str, Any]:
        """Run a job and wait (server-side, up to `wait_ms`): the job, finished or not."""
        params = {"wait": wait_ms} if wait_ms else None
        timeout = (wait_ms or 90_000) / 1000 + 30
        return self._request(
            "POST",
            "/runsync",
            json=_body(input, None, extra),
            params=params,
            timeout=timeout,
            headers=_idempotency_key(),
        )

    def status(self, job_id: str) -> dict[str, Any]:
        # POST: both Hark and RunPod (its local test server too) accept it.
        return self._request("POST", f"/status/{job_id}")

    def cancel(self, job_id: str) -> dict[str, Any]:
        return self._request("POST", f"/cancel/{job_id}")

    def retry(self, job_id: str) -> dict[str, Any]:
        return self._request("POST", f"/retry/{job_id}")

    def health(self) -> dict[str, Any]:
        return self._request("GET", "/health")

    # -- convenience ---------------------------------------------------------------------

    def wait(
        self, job_id: str, *, poll_interval: float = 1.0, timeout: float | None = None
    ) -> dict[str, Any]:
        """Poll until the job ends (intervals grow to 8x `poll_interval`); the final status."""
        deadline = None if timeout is None else time.monotonic() + timeout
        interval = poll_interval
        while True:
            job = self.status(job_id)
            if job.get("status") in FINAL:
                return job
            if deadline is not None and time.monotonic() + interval > deadline:
                raise TimeoutError(f"job {job_id} still {job.get('status')} after {timeout} s")
            time.sleep(interval)
            interval = min(interval * 1.5, poll_interval * 8)

    def transcribe(
        self,
        audio: str | os.PathLike[str] | bytes,
        *,
        poll_interval: float = 1.0,
        timeout: float | None = None,
        **options: Any,
    ) -> dict[str, Any]:
        """Submit a file (path or bytes; an http(s) string is sent as `audio_url`) with any
        transcription options, wait for it, and return the output (WhisperX JSON plus the
        `output_formats` renderings). Raises JobFailed, or TimeoutError (the job is
        cancelled)."""
        input = {**options, **audio_input(audio)}
        job_id = self.run(input)["id"]
        try:  # even a job that failed at once: its error is in /status
            job = self.wait(job_id, poll_interval=poll_interval, timeout=timeout)
        except TimeoutError:
            self._cancel_quietly(job_id)
            raise
        if job["status"] != "COMPLETED":
            raise JobFailed(job)
        output: dict[str, Any] = job["output"]
        return output

    def _cancel_quietly(self, job_id: str) -> None:
        with contextlib.suppress(ClientError, httpx.HTTPError):  # the timeout is raised anyway
            self.cancel(job_id)

    def _request(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        delay = self.backoff
        for attempt in range(self.retries + 1):
            last = attempt == self.retries
            try:
                response = self._http.request(method, path, **kwargs)
            except httpx.TransportError as exc:
                if last:
                    raise ClientError(f"{method} {path}: {exc}") from exc
                time.sleep(delay)
                delay *= 2
                continue
            if response.status_code == 429 or response.status_code >= 500:
                if last:
                    raise ClientError(_describe(response), response.status_code)
                time.sleep(max(delay, _retry_after(response)))
                delay *= 2
                continue
            if response.is_error:
                raise ClientError(_describe(response), response.status_code)
            body: dict[str, Any] = response.json()
            return body
        raise AssertionError("unreachable")


def _idempotency_key() -> dict[str, str]:
    """One key per submission, sent with each of its retries (RunPod ignores the header)."""
    return {"Idempotency-Key": str(uuid.uuid4())}


def _body(input: dict[str, Any], webhook: str | None, extra: dict[str, Any]) -> dict[str, Any]:
    body = {"input": input, **extra}
    if webhook:
        body["webhook"] = webhook
    return body


def audio_input(audio: str | os.PathLike[str] | bytes) -> dict[str, str]:
    if isinstance(audio, bytes):
        return {"audio_base_64": base64.b64encode(audio).decode()}
    if isinstance(audio, str) and audio.startswith(("http://", "https://")):
        return {"audio_url": audio}
    return {"audio_base_64": base64.b64encode(Path(audio).read_bytes()).decode()}


def _retry_after(response: httpx.Response) -> float:
    value = response.headers.get("retry-after", "")
    return min(float(value), 60.0) if value.replace(".", "", 1).isdigit() else 0.0


def _describe(response: httpx.Response) -> str:
    try:
        error = response.json().get("error")
    except ValueError:
        error = None
    if isinstance(error, dict):
        error = error.get("message")
    return f"HTTP {response.status_code}: {error or response.text[:200]}"


# The async live-streaming client (`hark.client_live`), importable from here too; loaded on
# first use so that the jobs client does not import websockets.
_LIVE_NAMES = frozenset(
    {"AsyncLiveClient", "LiveSession", "LiveError", "LiveEvent", "Ready", "Partial", "Final"}
    | {"Lag", "ErrorEvent", "Done", "listen"}
)


def __getattr__(name: str) -> Any:
    if name in _LIVE_NAMES:
        from hark import client_live

        return getattr(client_live, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
