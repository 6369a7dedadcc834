"""Graceful shutdown: on SIGTERM/SIGINT, stop taking jobs at once, not after the HTTP drain.

uvicorn owns the signals while it serves; this chains in front of its handler, so the job
workers stop claiming and start finishing (or re-queueing) their jobs while uvicorn closes its
listeners and drains requests in parallel. The lifespan's end then waits for what remains, all
within `HARK_SHUTDOWN_GRACE_S`.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from collections.abc import Callable
from types import FrameType
from typing import Any

logger = logging.getLogger(__name__)


class Drain:
    """Runs `stop(grace)` once, in a thread, from the first signal or from `finish()`."""

    def __init__(self, stop: Callable[[float], None], grace: float) -> None:
        self._stop = stop
        self.grace = grace
        self.started = threading.Event()
        self._thread: threading.Thread | None = None
        self._began = 0.0
        self._lock = threading.Lock()

    def install(self) -> None:
        if threading.current_thread() is not threading.main_thread():
            return  # signals belong to the main thread (tests running the app in a thread)
        for sig in (signal.SIGTERM, signal.SIGINT):
            previous = signal.getsignal(sig)
            signal.signal(sig, self._handler(previous))

    def _handler(self, previous: Any) -> Callable[[int, FrameType | None], None]:
        def handle(sig: int, frame: FrameType | None) -> None:
            logger.info("signal %d: draining (grace %.0f s)", sig, self.grace)
            self.begin()
            if callable(previous):
                previous(sig, frame)

        return handle

    def begin(self) -> None:
        with self._lock:
            if self._thread is not None:
                return
            self._began = time.monotonic()
            self.started.set()
            self._thread = threading.Thread(
                target=self._stop, args=(self.grace,), name="hark-drain", daemon=True
            )
            self._thread.start()

    def finish(self) -> None:
        """Start draining if no signal did, and wait for it within the grace period."""
        self.begin()
        assert self._thread is not None
        self._thread.join(max(0.0, self.grace - (time.monotonic() - self._began)))
