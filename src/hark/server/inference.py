"""Run a request on the engine (which admits it and batches it with other requests, jobs and
live streams) in an executor thread, with metrics, deadline and cancellation."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import TypeVar

from fastapi import Request

from hark.admission import AdmissionError
from hark.options import TranscribeOptions
from hark.pipeline import LanguageResult
from hark.scheduler import CancelledError
from hark.schema import Transcript
from hark.server.errors import ApiError
from hark.server.executor import Cancelled, DeadlineExceeded
from hark.server.state import ServerState
from hark.server.uploads import Upload

T = TypeVar("T")


async def transcribe(
    request: Request, state: ServerState, upload: Upload, options: TranscribeOptions
) -> Transcript:
    engine = state.loaded()

    def job(cancel: threading.Event) -> tuple[Transcript, float]:
        started = time.perf_counter()
        transcript = engine.transcribe(upload.file, options, cancel=cancel)
        return transcript, time.perf_counter() - started

    transcript, seconds = await _run(request, state, job)
    state.metrics.observe_inference(options.task, transcript.duration, seconds)
    return transcript


async def detect_language(
    request: Request, state: ServerState, upload: Upload, options: TranscribeOptions
) -> LanguageResult | None:
    engine = state.loaded()

    def job(cancel: threading.Event) -> tuple[LanguageResult | None, float]:
        # Decoding, VAD and the one bounded encode are the stages; a deadline or a client
        # gone stops the work between them.
        started = time.perf_counter()
        result = engine.detect_language(upload.file, options, cancel=cancel)
        return result, time.perf_counter() - started

    result, seconds = await _run(request, state, job)
    state.metrics.inference_seconds.labels(task="detect_language").observe(seconds)
    return result


async def _run(request: Request, state: ServerState, job: Callable[[threading.Event], T]) -> T:
    deadline = state.settings.request_timeout_s

    def cancellable(cancel: threading.Event) -> T:
        try:
            return job(cancel)
        except CancelledError:
            raise Cancelled() from None

    try:
        # Refused on the event loop when the lane is full, before taking a thread.
        state.loaded().admission.lane("requests").check()
        return await state.executor.run(cancellable, request.is_disconnected, deadline)
    except AdmissionError as exc:
        raise ApiError(
            503, exc.code, str(exc), headers={"Retry-After": str(exc.retry_after)}
        ) from None
    except DeadlineExceeded:
        raise ApiError(
            504,
            "deadline_exceeded",
            f"the request's work took longer than the server's limit of {deadline:g} s "
            "(HARK_REQUEST_TIMEOUT_S); send shorter audio, or use /run for long files",
        ) from None
    except Cancelled:
        # Nobody reads this answer; it keeps the logs and metrics honest (nginx's code).
        raise ApiError(499, "client_closed_request", "the client disconnected") from None
