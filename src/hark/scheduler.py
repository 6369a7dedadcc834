"""The ASR stage for everything the engine runs: continuous batching of speech chunks.

Requests reach the chunk pool already prepared (decoded, VAD, language; `hark.engine` drives
that in the caller's thread). Worker threads build each batch from the pool, one chunk per
request in turn (oldest first), so many short requests fill batches the way one long file
would, and an hour-long job cannot starve a 10-second request: it gets one slot per round like
everybody else. Live windows (`priority="live"`) go ahead of file chunks: a batch takes every
waiting live window first, then fills up with file chunks. Among live windows, those whose
words become final at once (`"final"`: a stream's caption waits on them) go first.

The scheduler knows the ASR model and nothing else of the pipeline; it never calls back into
the code that submitted the work.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from typing import Literal

import numpy as np

from hark.admission import ShuttingDownError
from hark.asr import WINDOW_FRAMES, ChunkResult, DecodeOptions, WhisperASR
from hark.pipeline import PreparedAudio, Progress, ProgressCallback

logger = logging.getLogger(__name__)

Priority = Literal["final", "live", "bulk"]
_RANK = {"final": 0, "live": 1, "bulk": 2}


class SchedulerError(RuntimeError):
    code = "scheduler_error"


class CancelledError(SchedulerError):
    code = "cancelled"


@dataclass(eq=False)
class _Request:
    prepared: PreparedAudio
    report: ProgressCallback
    priority: Priority
    prompt: tuple[int, ...]  # previous-text tokens of every chunk (`WhisperASR.prompt_tokens`)
    frames: int  # the encoder input its chunks need (a batch takes the longest of its own)
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

    @property
    def options(self) -> DecodeOptions:
        """The decoding options less the prompt (which travels per chunk)."""
        return replace(self.prepared.decode, initial_prompt=None)

    @property
    def batch_key(self) -> tuple[DecodeOptions, int]:
        # CTranslate2 needs <|startoftranscript|> at the same position in every item of a
        # batch: requests share one when their prompts have as many tokens (live windows'
        # prompts are cut to a few lengths for that), whatever the words.
        return self.options, len(self.prompt)


@dataclass
class _Batch:
    picked: list[tuple[_Request, int]]
    features: Future[np.ndarray | None]


@dataclass(frozen=True)
class SchedulerStats:
    waiting_chunks: int  # chunks not yet in a batch
    batches: int  # batches run since start
    batched_chunks: int  # chunks decoded since start


def _no_progress(_: Progress) -> None:
    pass


class Scheduler:
    """Shares one ASR model between concurrent requests and live streams, batching across them.

    Args:
      asr: the model.
      workers: threads running batches (CTranslate2 runs that many decodes at once).
      batch_size: chunks per batch (None: each request's own `batch_size`, else 16 on CUDA,
        8 on CPU).
      batch_wait_s: how long a batch that is not full may wait while requests are still being
        prepared (never when nothing is on its way, so a lone request never waits).
      overlap_features: compute the next batch's log-mel features while the current batch
        decodes (CTranslate2 releases the GIL); pays on a GPU, where the model would otherwise
        wait for numpy. On CPU both compete for the same cores, so off by default there.
    """

    def __init__(
        self,
        asr: WhisperASR,
        *,
        workers: int = 1,
        batch_size: int | None = None,
        batch_wait_s: float = 0.25,
        overlap_features: bool | None = None,
    ) -> None:
        self.asr = asr
        self.batch_size = batch_size
        self.default_batch_size = 16 if asr.device == "cuda" else 8
        self.batch_wait_s = batch_wait_s
        self.overlap_features = (
            asr.device != "cpu" if overlap_features is None else overlap_features
        )
        self._cond = threading.Condition()
        self._active: list[_Request] = []
        self._closing = False
        self._preparing = 0  # requests announced by `preparing()` that have not arrived yet
        self._last_served: _Request | None = None
        self._batches = 0
        self._batched_chunks = 0
        self._features = ThreadPoolExecutor(workers, thread_name_prefix="hark-features")
        self._threads = [
            threading.Thread(target=self._work, name=f"hark-asr-{i}", daemon=True)
            for i in range(workers)
        ]
        for thread in self._threads:
            thread.start()

    # -- public ----------------------------------------------------------------------------

    @contextlib.contextmanager
    def preparing(self) -> Iterator[None]:
        """Announce a request whose chunks will arrive soon (it is being decoded and VAD'd):
        a batch that is not full waits up to `batch_wait_s` for it."""
        with self._cond:
            self._preparing += 1
        try:
            yield
        finally:
            with self._cond:
                self._preparing -= 1
                self._cond.notify_all()

    def decode(
        self,
        prepared: PreparedAudio,
        report: ProgressCallback = _no_progress,
        cancel: threading.Event | None = None,
        priority: Priority = "bulk",
        prompt: tuple[int, ...] | None = None,
        frames: int = WINDOW_FRAMES,
    ) -> list[ChunkResult]:
        """Decode every chunk of `prepared` in the shared batches; blocks until done.

        `prompt`: previous-text tokens for every chunk (`WhisperASR.prompt_tokens`); default
        the tokens of `prepared.decode.initial_prompt`, cut to a bucket for live windows.
        `frames`: the encoder input its chunks need, when shorter than Whisper's 30 s
        (`WhisperASR.encoder_frames`); a batch is encoded at the longest of its chunks'.

        `report` hears ASR progress from the worker threads (exceptions it raises are logged,
        not propagated: stop a request with `cancel`). Raises CancelledError once `cancel` is
        set, ShuttingDownError when the scheduler is closing.
        """
        report(Progress("asr", 0.0, prepared.duration))
        if not prepared.chunks:
            report(Progress("asr", prepared.duration, prepared.duration))
            return []
        if prompt is None:
            text = prepared.decode.initial_prompt
            prompt = self.asr.prompt_tokens(text, bucketed=priority != "bulk")
        request = _Request(prepared, report, priority, prompt, frames)
        with self._cond:
            if self._closing:
                raise ShuttingDownError("the server is shutting down; retry on another replica", 1)
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

    def stats(self) -> SchedulerStats:
        with self._cond:
            return SchedulerStats(self._waiting_chunks(), self._batches, self._batched_chunks)

    def close(self, timeout: float | None = None) -> None:
        """Stop taking work, finish what is already in the pool, stop the workers."""
        with self._cond:
            self._closing = True
            self._cond.notify_all()
        for thread in self._threads:
            thread.join(timeout)
        self._features.shutdown(wait=False, cancel_futures=True)

    # -- internals ---------------------------------------------------------------------------

    def _work(self) -> None:
        upcoming: _Batch | None = None
        while True:
            batch = upcoming or self._next_batch(block=True)
            if batch is None:
                return
            # With overlap, pick the following batch now and compute its features while this
            # one decodes; a live window arriving meanwhile waits at most for that batch.
            upcoming = self._next_batch(block=False) if self.overlap_features else None
            self._run(batch)

    def _next_batch(self, *, block: bool) -> _Batch | None:
        with self._cond:
            while not any(r.has_work for r in self._active):
                if self._closing or not block:
                    return None
                self._cond.wait()
            if block:
                self._wait_for_a_fuller_batch()
            picked = self._pick()
        features: Future[np.ndarray | None] = Future()
        if self.overlap_features:
            audios = [r.prepared.chunks[i].audio(r.prepared.samples) for r, i in picked]
            frames = max(r.frames for r, _ in picked)
            return _Batch(picked, self._features.submit(self.asr.features, audios, frames))
        features.set_result(None)
        return _Batch(picked, features)

    def _wait_for_a_fuller_batch(self) -> None:
        """Hold a batch that is not full while requests are still being prepared (called with
        the lock held): one full batch beats a small one now and another soon after. Live
        windows never wait."""
        deadline = time.monotonic() + self.batch_wait_s
        while self._preparing > 0 and not self._closing:
            remaining = deadline - time.monotonic()
            live = any(r.has_work and r.priority != "bulk" for r in self._active)
            if live or self._waiting_chunks() >= self._batch_limit() or remaining <= 0:
                return
            self._cond.wait(remaining)

    def _waiting_chunks(self) -> int:
        """Chunks in the pool not yet in a batch (called with the lock held)."""
        return sum(len(r.prepared.chunks) - r.next_chunk for r in self._active if r.has_work)

    def _first(self) -> _Request:
        """The request the next batch is built around: the oldest final window, else the oldest
        live one, else the oldest."""
        waiting = [r for r in self._active if r.has_work]
        return min(waiting, key=lambda r: _RANK[r.priority])  # the oldest of its rank

    def _batch_limit(self) -> int:
        first = self._first()
        return self.batch_size or first.prepared.options.batch_size or self.default_batch_size

    def _pick(self) -> list[tuple[_Request, int]]:
        """Live windows first, then round-robin over the requests decoding with the same
        options as the first one, one chunk each per turn, up to the batch size; each batch
        continues the round where the previous one stopped."""
        key = self._first().batch_key
        limit = self._batch_limit()
        compatible = [r for r in self._active if r.has_work and r.batch_key == key]
        live = sorted(
            (r for r in compatible if r.priority != "bulk"), key=lambda r: _RANK[r.priority]
        )
        bulk = [r for r in compatible if r.priority == "bulk"]
        if self._last_served in bulk:  # continue the round where the last batch ended
            k = bulk.index(self._last_served) + 1
            bulk = bulk[k:] + bulk[:k]
        picked: list[tuple[_Request, int]] = []
        for group in (live, bulk):
            while len(picked) < limit and group:
                for request in list(group):
                    if len(picked) == limit:
                        break
                    picked.append((request, request.next_chunk))
                    request.next_chunk += 1
                    if not request.has_work:
                        group.remove(request)
                    if request.priority == "bulk":
                        self._last_served = request
        return picked

    def _run(self, batch: _Batch) -> None:
        picked = batch.picked
        try:
            audios = [r.prepared.chunks[i].audio(r.prepared.samples) for r, i in picked]
            results = self.asr.transcribe_batch(
                audios,
                [r.prepared.chunks[i] for r, i in picked],
                [r.languages[i] for r, i in picked],
                picked[0][0].options,
                [r.prepared.take_encoded([i])[0] for r, i in picked],
                batch.features.result(),
                prompts=[r.prompt for r, _ in picked],
                frames=max(r.frames for r, _ in picked),
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
