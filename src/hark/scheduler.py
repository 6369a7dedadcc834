"""One scheduler per process: continuous batching of ASR chunks across requests.

Each request is prepared (decoded, VAD, language) in its caller's thread, then its speech
chunks join a shared pool. Worker threads build each ASR batch from that pool, taking one chunk
per request in turn (oldest request first), so many short requests fill batches the way one
long file would, and an hour-long job cannot starve a 10-second request: it gets one slot per
round like everybody else. Alignment and speakers run back in the caller's thread.

    scheduler = Scheduler(pipeline)
    transcript = scheduler.transcribe("call.wav", language="en")   # from any thread
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from hark.asr import ChunkResult
from hark.options import TranscribeOptions
from hark.pipeline import (
    AudioInput,
    Pipeline,
    PreparedAudio,
    Progress,
    ProgressCallback,
    merge_options,
)
from hark.schema import Transcript

logger = logging.getLogger(__name__)


class SchedulerError(RuntimeError):
    code = "scheduler_error"


class QueueFullError(SchedulerError):
    """Too many requests are waiting for the model; retry later (HTTP 503)."""

    code = "queue_full"


class CancelledError(SchedulerError):
    code = "cancelled"


class ShuttingDownError(SchedulerError):
    code = "shutting_down"


@dataclass(eq=False)
class _Request:
    prepared: PreparedAudio
    report: ProgressCallback
    languages: list[str | None] = field(init=False)
    results: list[ChunkResult | None] = field(init=False)
    next_chunk: int = 0
    finished_chunks: int = 0
    error: BaseException | None = None
    cancelled: bool = False
    done: threading.Event = field(default_factory=threading.Event)

    def __post_init__(self) -> None:
        self.languages = self.prepared.chunk_languages()
        self.results = [None] * len(self.prepared.chunks)

    @property
    def has_work(self) -> bool:
        return not self.cancelled and self.next_chunk < len(self.prepared.chunks)


@dataclass(frozen=True)
class SchedulerStats:
    requests: int  # requests admitted and not finished (preparing, in the pool, finishing)
    waiting_chunks: int  # chunks not yet in a batch
    batches: int  # batches run since start
    batched_chunks: int  # chunks decoded since start


class Scheduler:
    """Shares one pipeline's ASR model between concurrent requests, batching across them."""

    def __init__(
        self,
        pipeline: Pipeline,
        *,
        max_requests: int = 64,
        workers: int = 1,
        batch_size: int | None = None,
        batch_wait_s: float = 0.25,
    ) -> None:
        self.pipeline = pipeline
        self.max_requests = max_requests
        self.batch_size = batch_size
        # How long a batch that is not full may wait for requests still being prepared
        # (decoded, VAD): never when nothing else is on its way, so a lone request never waits.
        self.batch_wait_s = batch_wait_s
        self._cond = threading.Condition()
        self._active: list[_Request] = []
        self._closing = False
        self._admitted = 0
        self._preparing = 0  # admitted requests that have not reached the chunk pool yet
        self._last_served: _Request | None = None
        self._batches = 0
        self._batched_chunks = 0
        self._threads = [
            threading.Thread(target=self._work, name=f"hark-asr-{i}", daemon=True)
            for i in range(workers)
        ]
        for thread in self._threads:
            thread.start()

    # -- public ----------------------------------------------------------------------------

    def transcribe(
        self,
        audio: AudioInput,
        options: TranscribeOptions | None = None,
        *,
        speakers: Mapping[str, AudioInput] | None = None,
        progress: ProgressCallback | None = None,
        cancel: threading.Event | None = None,
        **overrides: Any,
    ) -> Transcript:
        """Like `Pipeline.transcribe`, with the ASR stage shared with other requests.

        Raises QueueFullError when `max_requests` are already waiting, CancelledError when
        `cancel` is set before the transcript is done.
        """
        options = merge_options(options, overrides)
        given_report = progress or (lambda _p: None)

        def report(p: Progress) -> None:
            # Every stage reports as it starts and ends (VAD, ASR, alignment, speakers): a
            # cancelled request stops at the next of these boundaries, not only between batches.
            if cancel is not None and cancel.is_set():
                raise CancelledError("the request was cancelled")
            given_report(p)

        self._admit()
        preparing = [True]

        def arrived() -> None:
            with self._cond:
                if preparing[0]:
                    preparing[0] = False
                    self._preparing -= 1
                    self._cond.notify_all()

        def decode(prepared: PreparedAudio, _report: ProgressCallback) -> list[ChunkResult]:
            arrived()
            if cancel is not None and cancel.is_set():
                raise CancelledError("the request was cancelled")
            # The scheduler's threads report ASR progress: they get the caller's own callback,
            # since a cancel is noticed by `_decode`'s wait, not by raising in their thread.
            return self._decode(prepared, given_report, cancel)

        try:
            transcript = self.pipeline.run(audio, options, report, speakers, decode)
        finally:
            arrived()
            with self._cond:
                self._admitted -= 1
        if cancel is not None and cancel.is_set():
            raise CancelledError("the request was cancelled")
        return transcript

    def stats(self) -> SchedulerStats:
        with self._cond:
            return SchedulerStats(
                self._admitted, self._waiting_chunks(), self._batches, self._batched_chunks
            )

    @property
    def saturated(self) -> bool:
        with self._cond:
            return self._admitted >= self.max_requests

    def close(self, timeout: float | None = None) -> None:
        """Stop taking requests, finish those already in the pool, stop the workers."""
        with self._cond:
            self._closing = True
            self._cond.notify_all()
        for thread in self._threads:
            thread.join(timeout)

    # -- internals ---------------------------------------------------------------------------

    def _admit(self) -> None:
        with self._cond:
            if self._closing:
                raise ShuttingDownError("the server is shutting down; retry on another replica")
            if self._admitted >= self.max_requests:
                raise QueueFullError(
                    f"{self._admitted} requests are already being handled; retry in a few seconds"
                )
            self._admitted += 1
            self._preparing += 1

    def _decode(
        self, prepared: PreparedAudio, report: ProgressCallback, cancel: threading.Event | None
    ) -> list[ChunkResult]:
        report(Progress("asr", 0.0, prepared.duration))
        if not prepared.chunks:
            report(Progress("asr", prepared.duration, prepared.duration))
            return []
        request = _Request(prepared, report)
        with self._cond:
            if self._closing:
                raise ShuttingDownError("the server is shutting down; retry on another replica")
            self._active.append(request)
            self._cond.notify_all()
        try:
            while not request.done.wait(0.05):
                if cancel is not None and cancel.is_set():
                    raise CancelledError("the request was cancelled")
        finally:
            with self._cond:
                request.cancelled = True  # nothing more of it is scheduled
                if request in self._active:
                    self._active.remove(request)
        if request.error is not None:
            raise request.error
        return [r for r in request.results if r is not None]

    def _work(self) -> None:
        while True:
            with self._cond:
                while not any(r.has_work for r in self._active):
                    if self._closing:
                        return
                    self._cond.wait()
                self._wait_for_a_fuller_batch()
                picked = self._pick()
            self._run(picked)

    def _wait_for_a_fuller_batch(self) -> None:
        """Hold a batch that is not full while requests are still being prepared (called with
        the lock held): one full batch beats a small one now and another soon after."""
        deadline = time.monotonic() + self.batch_wait_s
        while self._preparing > 0 and not self._closing:
            remaining = deadline - time.monotonic()
            if self._waiting_chunks() >= self._batch_limit() or remaining <= 0:
                return
            self._cond.wait(remaining)

    def _waiting_chunks(self) -> int:
        """Chunks in the pool not yet in a batch (called with the lock held)."""
        return sum(len(r.prepared.chunks) - r.next_chunk for r in self._active if r.has_work)

    def _batch_limit(self) -> int:
        first = next(r for r in self._active if r.has_work)
        return (
            self.batch_size or first.prepared.options.batch_size or self.pipeline.default_batch_size
        )

    def _pick(self) -> list[tuple[_Request, int]]:
        """Round-robin over the requests decoding with the same options as the oldest one
        waiting, one chunk each per turn, up to its batch size; each batch continues the
        round where the previous one stopped."""
        first = next(r for r in self._active if r.has_work)
        key = first.prepared.decode
        limit = self._batch_limit()
        compatible = [r for r in self._active if r.has_work and r.prepared.decode == key]
        if self._last_served in compatible:  # continue the round where the last batch ended
            k = compatible.index(self._last_served) + 1
            compatible = compatible[k:] + compatible[:k]
        picked: list[tuple[_Request, int]] = []
        while len(picked) < limit and compatible:
            for request in list(compatible):
                if len(picked) == limit:
                    break
                picked.append((request, request.next_chunk))
                request.next_chunk += 1
                if not request.has_work:
                    compatible.remove(request)
        self._last_served = picked[-1][0]
        return picked

    def _run(self, picked: list[tuple[_Request, int]]) -> None:
        audios = [r.prepared.chunks[i].audio(r.prepared.samples) for r, i in picked]
        chunks = [r.prepared.chunks[i] for r, i in picked]
        languages = [r.languages[i] for r, i in picked]
        try:
            encoded = [r.prepared.take_encoded([i])[0] for r, i in picked]
            results = self.pipeline.asr.transcribe_batch(
                audios, chunks, languages, picked[0][0].prepared.decode, encoded
            )
        except Exception as exc:  # the requests in this batch fail, the scheduler goes on
            logger.exception("ASR batch failed")
            with self._cond:
                for request, _ in picked:
                    request.error = request.error or exc
                    request.cancelled = True
                    request.done.set()
            return
        finished: list[_Request] = []
        with self._cond:
            self._batches += 1
            self._batched_chunks += len(picked)
            for (request, i), result in zip(picked, results, strict=True):
                request.results[i] = result
                request.finished_chunks += 1
                if request.finished_chunks == len(request.results):
                    finished.append(request)
        for request in {id(r): r for r, _ in picked}.values():
            p = request.prepared
            done = p.duration if request in finished else p.chunks[request.finished_chunks - 1].end
            try:
                request.report(Progress("asr", done, p.duration))
            except Exception:  # a broken progress callback must not kill the scheduler
                logger.exception("progress callback failed")
        for request in finished:
            request.done.set()
