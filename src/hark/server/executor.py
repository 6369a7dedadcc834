"""Threads for the engine's blocking calls, watched from the event loop.

The engine runs in worker threads, never on the event loop, so `/health`, `/ready` and
`/metrics` answer at once while a long file decodes. A client that disconnects while its
request waits for a slot or runs sets the request's cancel event: it leaves the queue, or
stops at the next stage or batch.
"""

from __future__ import annotations

import asyncio
import math
import threading
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

T = TypeVar("T")
Disconnected = Callable[[], Awaitable[bool]]

_POLL_SECONDS = 0.25


class Cancelled(Exception):
    """Raised inside a job whose client went away."""


class DeadlineExceeded(Exception):
    """The job ran past its deadline and was stopped."""


class InferenceExecutor:
    """Worker threads for the engine's blocking calls. Admission (how many run, how many
    wait, 503 beyond) is the engine's; a thread waiting for its slot is told to stop (its
    `cancel` event) when its client leaves."""

    def __init__(self, threads: int) -> None:
        self._pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="hark-inference")

    async def run(
        self,
        job: Callable[[threading.Event], T],
        disconnected: Disconnected | None = None,
        deadline_s: float = 0.0,
    ) -> T:
        """Run `job(cancel_event)` in a worker thread; returns its result.

        The cancel event is set when the client disconnects (the job then raises Cancelled)
        and after `deadline_s` seconds (0: never), in which case DeadlineExceeded is raised
        once the job stopped.
        """
        cancel = threading.Event()
        future = asyncio.get_running_loop().run_in_executor(self._pool, job, cancel)
        return await self._watch(future, cancel, disconnected, deadline_s)

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

    def shutdown(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)


def _consume(future: asyncio.Future[object]) -> None:
    # Retrieve the exception of an abandoned job so asyncio does not log it as unhandled.
    if not future.cancelled():
        future.exception()
