"""Run a request through the executor into the process's scheduler (which batches it with
other requests and jobs), with metrics and cancellation."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import TypeVar

from fastapi import Request

from hark.options import TranscribeOptions
from hark.pipeline import LanguageResult, Progress
from hark.scheduler import CancelledError, QueueFullError, ShuttingDownError
from hark.schema import Transcript
from hark.server.errors import ApiError
from hark.server.executor import Cancelled, ClientGone, DeadlineExceeded
from hark.server.state import ServerState
from hark.server.uploads import Upload

T = TypeVar("T")
_RETRY_S = 5  # the scheduler is full only when jobs and requests overlap at their limits


async def transcribe(
    request: Request, state: ServerState, upload: Upload, options: TranscribeOptions
) -> Transcript:
    scheduler = state.loaded_scheduler()

    def job(cancel: threading.Event) -> tuple[Transcript, float]:
        started = time.perf_counter()
        try:
            transcript = scheduler.transcribe(upload.file, options, cancel=cancel)
        except CancelledError:
            raise Cancelled() from None
        except (QueueFullError, ShuttingDownError) as exc:
            raise ApiError(
                503, exc.code, str(exc), headers={"Retry-After": str(_RETRY_S)}
            ) from None
        return transcript, time.perf_counter() - started

    transcript, seconds = await _run(request, state, job)
    state.metrics.observe_inference(options.task, transcript.duration, seconds)
    return transcript


async def detect_language(
    request: Request, state: ServerState, upload: Upload, options: TranscribeOptions
) -> LanguageResult | None:
    pipeline = state.loaded()

    def job(cancel: threading.Event) -> tuple[LanguageResult | None, float]:
        def stop_if_cancelled(_: Progress) -> None:
            # Decoding, VAD and the one bounded encode are the stages; a deadline or a
            # client gone stops the work between them.
            if cancel.is_set():
                raise Cancelled()

        started = time.perf_counter()
        result = pipeline.detect_language(upload.file, options, report=stop_if_cancelled)
        return result, time.perf_counter() - started

    result, seconds = await _run(request, state, job)
    state.metrics.inference_seconds.labels(task="detect_language").observe(seconds)
    return result


async def _run(request: Request, state: ServerState, job: Callable[[threading.Event], T]) -> T:
    deadline = state.settings.request_timeout_s
    try:
        return await state.executor.run(job, request.is_disconnected, deadline)
    except DeadlineExceeded:
        raise ApiError(
            504,
            "deadline_exceeded",
            f"the request's work took longer than the server's limit of {deadline:g} s "
            "(HARK_REQUEST_TIMEOUT_S); send shorter audio, or use /run for long files",
        ) from None
    except (ClientGone, Cancelled):
        # Nobody reads this answer; it keeps the logs and metrics honest (nginx's code).
        raise ApiError(499, "client_closed_request", "the client disconnected") from None
