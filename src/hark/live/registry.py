"""The process's live streams: the stream limit, and the finished sessions' transcripts kept
for `GET /v1/listen/{id}` (for `result_ttl_s`, at most `max_results` of them)."""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from dataclasses import dataclass

from hark.schema import Transcript


@dataclass(frozen=True)
class StoredResult:
    owner: str | None  # the API key name that opened the session (None: open server)
    transcript: Transcript
    expires: float


class LiveRegistry:
    def __init__(self, max_streams: int, result_ttl_s: float, max_results: int = 1000) -> None:
        self.max_streams = max_streams
        self.result_ttl_s = result_ttl_s
        self.max_results = max_results
        self._open = 0
        self._lock = threading.Lock()
        self._results: OrderedDict[str, StoredResult] = OrderedDict()

    @property
    def open_streams(self) -> int:
        return self._open

    def acquire(self) -> bool:
        """A stream slot, or False when `max_streams` are open."""
        with self._lock:
            if self._open >= self.max_streams:
                return False
            self._open += 1
            return True

    def release(self) -> None:
        with self._lock:
            self._open = max(0, self._open - 1)

    def store(self, session_id: str, owner: str | None, transcript: Transcript) -> None:
        with self._lock:
            self._purge()
            self._results[session_id] = StoredResult(
                owner, transcript, time.monotonic() + self.result_ttl_s
            )
            while len(self._results) > self.max_results:
                self._results.popitem(last=False)

    def result(self, session_id: str) -> StoredResult | None:
        with self._lock:
            self._purge()
            return self._results.get(session_id)

    def _purge(self) -> None:
        now = time.monotonic()
        while self._results:
            key, first = next(iter(self._results.items()))
            if first.expires > now:
                break
            del self._results[key]
