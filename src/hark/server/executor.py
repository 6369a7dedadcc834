"""One inference executor: a few worker threads and a bounded queue in front of them.

The pipeline runs in worker threads, never on the event loop, so `/health`, `/ready` and
`/metrics` answer at once while a long file decodes. A request that finds the queue full gets
503 with `Retry-After`. A client that disconnects while queued leaves the queue; one that
disconnects while its file runs stops it at the next batch (`Cancelled` raised from the
pipeline's progress callback).
"""

from __future__ import annotations

import asyncio
import math
import threading
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from hark.server.errors import ApiError

T = TypeVar("T")
Disconnected = Callable[[], Awaitable[bool]]

_POLL_SECONDS = 0.25


class Cancelled(Exception):
    """Raised inside a job whose client went away."""


class ClientGone(Exception):
    """The client disconnected before its result was ready."""


class DeadlineExceeded(Exception):
    """The job ran past its deadline and was stopped."""


class InferenceExecutor:
    def __init__(
        self,
        workers: int,
        queue_size: int,
        on_change: Callable[[int, int], None] | None = None,
    ) -> None:
        self.workers = workers
        self.queue_size = queue_size
        self.waiting = 0
        self.running = 0
        self._on_change = on_change or (lambda _waiting, _running: None)
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="hark-inference")
        self._slots = asyncio.Semaphore(workers)
        self._mean_seconds = 5.0  # a guess until the first jobs finish

    @property
    def saturated(self) -> bool:
        return self.waiting >= self.queue_size

    def retry_after(self) -> int:
        """Seconds until a slot is likely free: the queue ahead divided among the workers."""
        ahead = (self.waiting + self.running) / self.workers
        return max(1, min(300, math.ceil(ahead * self._mean_seconds)))

    async def run(
        self,
        job: Callable[[threading.Event], T],
        disconnected: Disconnected | None = None,
        deadline_s: float = 0.0,
    ) -> T:
        """Run `job(cancel_event)` in a worker thread once a slot is free; returns its result.

        Raises ApiError(503) when the queue is full and ClientGone when the client leaves.
        After `deadline_s` seconds of running (0: never) the cancel event is set, and once the
        job has stopped (at its next batch) DeadlineExceeded is raised: its slot is free then.
        """
        if self.saturated:
            raise ApiError(
                503,
                "queue_full",
                f"the server is busy ({self.running} running, {self.waiting} waiting); retry later",
                headers={"Retry-After": str(self.retry_after())},
            )
        self._change(waiting=+1)
        try:
            await self._acquire(disconnected)
        finally:
            self._change(waiting=-1)
        self._change(running=+1)
        cancel = threading.Event()
        started = time.perf_counter()
        future = asyncio.get_running_loop().run_in_executor(self._pool, job, cancel)
        # The slot is freed when the thread really ends, even if this coroutine is cancelled.
        future.add_done_callback(lambda _f: self._finish(time.perf_counter() - started))
        return await self._watch(future, cancel, disconnected, deadline_s)

    async def _acquire(self, disconnected: Disconnected | None) -> None:
        if disconnected is None:
            await self._slots.acquire()
            return
        acquire = asyncio.ensure_future(self._slots.acquire())
        try:
            while not acquire.done():
                await asyncio.wait({acquire}, timeout=_POLL_SECONDS)
                if not acquire.done() and await disconnected():
                    raise ClientGone()
        except BaseException:
            if acquire.done() and not acquire.cancelled():
                self._slots.release()  # got the slot just as we gave up
            acquire.cancel()
            raise

    async def _watch(
        self,
        future: asyncio.Future[T],
        cancel: threading.Event,
        disconnected: Disconnected | None,
        deadline_s: float = 0.0,
    ) -> T:
        deadline = time.monotonic() + deadline_s if deadline_s > 0 else math.inf
        timed_out = False
        try:
            while True:
                done, _ = await asyncio.wait({future}, timeout=_POLL_SECONDS)
                if done:
                    if timed_out:
                        try:
                            return future.result()  # it finished anyway: the answer stands
                        except Cancelled:
                            raise DeadlineExceeded() from None
                    return future.result()
                if not cancel.is_set() and time.monotonic() >= deadline:
                    timed_out = True
                    cancel.set()
                if disconnected is not None and not cancel.is_set() and await disconnected():
                    cancel.set()
        except asyncio.CancelledError:
            cancel.set()
            raise
        finally:
            if cancel.is_set() and not future.done():
                future.add_done_callback(_consume)

    def _finish(self, seconds: float) -> None:
        self._mean_seconds = 0.8 * self._mean_seconds + 0.2 * seconds
        self._slots.release()
        self._change(running=-1)

    def _change(self, *, waiting: int = 0, running: int = 0) -> None:
        self.waiting += waiting
        self.running += running
        self._on_change(self.waiting, self.running)

    def shutdown(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)


def _consume(future: asyncio.Future[object]) -> None:
    # Retrieve the exception of an abandoned job so asyncio does not log it as unhandled.
    if not future.cancelled():
        future.exception()
