"""A small registry of models loaded on first use, kept while used, unloaded when idle.

Aligners (one per language) and diarizers are not needed by every request, so they load
lazily. Each key has its own lock: a first aligner load blocks only requests for that aligner,
never the diarizer or another language. A model that failed to load is remembered as failed,
so a missing aligner costs one lookup, not one per request; `forget` clears an entry (e.g. after
fetching the model).

With `idle_unload_s`, a model unused for that long is dropped from the registry (checked on
every lookup and by a background sweeper). The registry then keeps only a weak reference: a
request still running with the model keeps it alive and the next lookup takes it back, so a
model is never loaded twice, and memory is freed as soon as the last user lets go.
"""

from __future__ import annotations

import logging
import threading
import time
import weakref
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

T = TypeVar("T")
logger = logging.getLogger(__name__)


@dataclass
class _Entry:
    lock: threading.Lock = field(default_factory=threading.Lock)
    value: Any = None  # the model, or the remembered exception; None while not loaded
    weak: weakref.ref[Any] | None = None  # an unloaded model that may still be in use
    last_used: float = 0.0


class LazyModels(Generic[T]):
    def __init__(
        self,
        loader: Callable[..., T],
        remember: tuple[type[Exception], ...],
        *,
        idle_unload_s: float | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if idle_unload_s is not None and not idle_unload_s > 0:
            raise ValueError("idle_unload_s must be a positive number of seconds, or None")
        self._loader = loader
        self._remember = remember
        self._idle = idle_unload_s
        self._clock = clock
        self._entries: dict[Hashable, _Entry] = {}
        self._lock = threading.Lock()  # guards the dict only; never held while loading
        if idle_unload_s is not None:
            _start_sweeper(self, idle_unload_s)

    def get(self, key: Hashable, *args: object, **kwargs: object) -> T:
        """The model for `key`, loading it with `loader(*args, **kwargs)` the first time."""
        self.unload_idle()
        with self._lock:
            entry = self._entries.setdefault(key, _Entry())
        with entry.lock:
            if entry.value is None:
                revived = entry.weak() if entry.weak is not None else None
                if revived is not None:
                    entry.value = revived
                else:
                    try:
                        entry.value = self._loader(*args, **kwargs)
                    except self._remember as exc:
                        entry.value = exc
                entry.weak = None
            entry.last_used = self._clock()
            model = entry.value
        if isinstance(model, Exception):
            raise model
        return model  # type: ignore[no-any-return]

    def unload_idle(self) -> list[Hashable]:
        """Drop the models unused for `idle_unload_s`; returns their keys."""
        if self._idle is None:
            return []
        now = self._clock()
        with self._lock:
            entries = list(self._entries.items())
        dropped = []
        for key, entry in entries:
            # A key being loaded or looked up right now is busy, not idle.
            if not entry.lock.acquire(blocking=False):
                continue
            try:
                value = entry.value
                if value is None or isinstance(value, Exception):
                    continue
                if now - entry.last_used < self._idle:
                    continue
                try:
                    entry.weak = weakref.ref(value)
                except TypeError:  # not weak-referenceable: nothing can revive it
                    entry.weak = None
                entry.value = None
                dropped.append(key)
            finally:
                entry.lock.release()
        for key in dropped:
            logger.info("unloaded %s after %.0f s unused", key, self._idle)
        return dropped

    def forget(self, key: Hashable | None = None) -> None:
        with self._lock:
            if key is None:
                self._entries.clear()
            else:
                self._entries.pop(key, None)

    def loaded(self) -> list[Hashable]:
        with self._lock:
            entries = list(self._entries.items())
        return [k for k, e in entries if e.value is not None and not isinstance(e.value, Exception)]


def _start_sweeper(models: LazyModels[Any], idle_unload_s: float) -> None:
    """Unload idle models even when no request comes; ends with the registry."""
    ref = weakref.ref(models)
    interval = min(max(idle_unload_s / 4, 0.05), 30.0)

    def sweep() -> None:
        while (registry := ref()) is not None:
            registry.unload_idle()
            del registry  # hold no strong reference while sleeping
            time.sleep(interval)

    threading.Thread(target=sweep, name="hark-model-unload", daemon=True).start()
