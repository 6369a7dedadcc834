"""The one admission point: how many requests the engine runs at once, and how many may wait.

Every surface (HTTP, jobs, RunPod, CLI) enters through `Admission.enter`, in a lane with its
own quota ("requests": synchronous requests; "jobs": the job workers, who wait however long).
A request that finds its lane's slots taken and waiting room full gets `QueueFullError` at
once, with one Retry-After rule: the work ahead of it divided among the slots, times the
recent mean time per request.
"""

from __future__ import annotations

import contextlib
import math
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass


class AdmissionError(RuntimeError):
    code = "admission_error"

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class QueueFullError(AdmissionError):
    """Every slot is taken and the waiting room is full: retry after `retry_after` s (503)."""

    code = "queue_full"


class ShuttingDownError(AdmissionError):
    code = "shutting_down"


class AdmissionCancelled(RuntimeError):
    """The request was cancelled (client gone, deadline) while it waited for a slot."""


@dataclass(frozen=True)
class AdmissionStats:
    running: int
    waiting: int


class Admission:
    """Lanes of work, each with its own quota, behind one door.

    `lanes` maps a name to (slots, queue): at most `slots` requests of that lane run at once,
    up to `queue` more wait (FIFO); `queue=None`: any number wait (callers bounded elsewhere,
    like the job workers). `on_change(lane, stats)` hears every change (metrics).
    """

    def __init__(
        self,
        lanes: dict[str, tuple[int, int | None]],
        *,
        on_change: Callable[[str, AdmissionStats], None] | None = None,
    ) -> None:
        notify = on_change or (lambda _lane, _stats: None)
        self.lanes = {
            name: Lane(slots, queue, on_change=lambda st, name=name: notify(name, st))
            for name, (slots, queue) in lanes.items()
        }

    def lane(self, name: str) -> Lane:
        try:
            return self.lanes[name]
        except KeyError:
            raise ValueError(f"no admission lane {name!r}; lanes: {sorted(self.lanes)}") from None

    def enter(
        self, lane: str = "requests", cancel: threading.Event | None = None
    ) -> contextlib.AbstractContextManager[None]:
        """Hold a slot of `lane` for the `with` body (see `Lane.enter`)."""
        return self.lane(lane).enter(cancel)

    def close(self) -> None:
        """Refuse new requests in every lane; those admitted finish."""
        for lane in self.lanes.values():
            lane.close()


class Lane:
    """At most `slots` requests run at once; up to `queue` more wait for a slot (FIFO)."""

    def __init__(
        self,
        slots: int,
        queue: int | None,
        *,
        on_change: Callable[[AdmissionStats], None] | None = None,
        mean_seconds: float = 5.0,
    ) -> None:
        if slots < 1 or (queue is not None and queue < 0):
            raise ValueError("an admission lane needs slots >= 1 and queue >= 0")
        self.slots = slots
        self.queue = queue
        self._on_change = on_change or (lambda _s: None)
        self._cond = threading.Condition()
        self._running = 0
        self._waiting: list[object] = []  # tickets, first come first served
        self._closing = False
        self._mean_seconds = mean_seconds  # a guess until the first requests finish

    def stats(self) -> AdmissionStats:
        with self._cond:
            return AdmissionStats(self._running, len(self._waiting))

    @property
    def saturated(self) -> bool:
        """True when a new request would be refused now."""
        with self._cond:
            full = self.queue is not None and len(self._waiting) >= self.queue
            return self._running >= self.slots and full

    def check(self) -> None:
        """Raise QueueFullError now if a request would be refused (a cheap early answer)."""
        with self._cond:
            self._check_open()
            full = self.queue is not None and len(self._waiting) >= self.queue
            if full and self._running >= self.slots:
                raise QueueFullError(self._busy(), self._retry_after())

    def retry_after(self) -> int:
        """Seconds until a slot is likely free: the queue ahead divided among the slots."""
        with self._cond:
            return self._retry_after()

    @contextlib.contextmanager
    def enter(self, cancel: threading.Event | None = None) -> Iterator[None]:
        """Hold a slot for the `with` body. Waits for one (FIFO) when all are taken; raises
        QueueFullError when the waiting room is full too, AdmissionCancelled when `cancel` is
        set while waiting, ShuttingDownError after `close`."""
        self._acquire(cancel)
        started = time.monotonic()
        try:
            yield
        finally:
            with self._cond:
                self._running -= 1
                self._mean_seconds = 0.8 * self._mean_seconds + 0.2 * (time.monotonic() - started)
                self._cond.notify_all()
            self._changed()

    def close(self) -> None:
        """Refuse new requests; those admitted finish."""
        with self._cond:
            self._closing = True
            self._cond.notify_all()

    def _acquire(self, cancel: threading.Event | None) -> None:
        ticket = object()
        with self._cond:
            self._check_open()
            if self._running < self.slots and not self._waiting:
                self._running += 1
                ticket = None
            elif self.queue is not None and len(self._waiting) >= self.queue:
                raise QueueFullError(self._busy(), self._retry_after())
            else:
                self._waiting.append(ticket)
        self._changed()
        if ticket is None:
            return
        try:
            with self._cond:
                while not (self._waiting[0] is ticket and self._running < self.slots):
                    self._check_open()
                    if cancel is not None and cancel.is_set():
                        raise AdmissionCancelled("cancelled while waiting for a slot")
                    self._cond.wait(0.1 if cancel is not None else None)
                self._running += 1
        finally:
            with self._cond:
                self._waiting.remove(ticket)
                self._cond.notify_all()
            self._changed()

    def _busy(self) -> str:
        return (
            f"the server is busy ({self._running} running, {len(self._waiting)} waiting); "
            "retry later"
        )

    def _check_open(self) -> None:
        if self._closing:
            raise ShuttingDownError(
                "the server is shutting down; retry on another replica", self._retry_after()
            )

    def _retry_after(self) -> int:
        ahead = (self._running + len(self._waiting)) / self.slots
        return max(1, min(300, math.ceil(ahead * self._mean_seconds)))

    def _changed(self) -> None:
        self._on_change(self.stats())
