"""Run the pipeline for a request through the executor, with metrics and cancellation."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import TypeVar

from fastapi import Request

from hark.options import TranscribeOptions
from hark.pipeline import LanguageResult, Progress
from hark.schema import Transcript
from hark.server.errors import ApiError
from hark.server.executor import Cancelled, ClientGone
from hark.server.state import ServerState
from hark.server.uploads import Upload

T = TypeVar("T")


async def transcribe(
    request: Request, state: ServerState, upload: Upload, options: TranscribeOptions
) -> Transcript:
    pipeline = state.loaded()

    def job(cancel: threading.Event) -> tuple[Transcript, float]:
        def progress(_p: Progress) -> None:
            if cancel.is_set():
                raise Cancelled()

        started = time.perf_counter()
        transcript = pipeline.transcribe(upload.file, options, progress=progress)
        return transcript, time.perf_counter() - started

    transcript, seconds = await _run(request, state, job)
    state.metrics.observe_inference(options.task, transcript.duration, seconds)
    return transcript


async def detect_language(
    request: Request, state: ServerState, upload: Upload, options: TranscribeOptions
) -> LanguageResult | None:
    pipeline = state.loaded()

    def job(_cancel: threading.Event) -> tuple[LanguageResult | None, float]:
        started = time.perf_counter()
        result = pipeline.detect_language(upload.file, options)
        return result, time.perf_counter() - started

    result, seconds = await _run(request, state, job)
    state.metrics.inference_seconds.labels(task="detect_language").observe(seconds)
    return result


async def _run(request: Request, state: ServerState, job: Callable[[threading.Event], T]) -> T:
    try:
        return await state.executor.run(job, request.is_disconnected)
    except (ClientGone, Cancelled):
        # Nobody reads this answer; it keeps the logs and metrics honest (nginx's code).
        raise ApiError(499, "client_closed_request", "the client disconnected") from None
