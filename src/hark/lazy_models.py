"""A small registry of models loaded on first use and kept for the life of the pipeline.

Aligners (one per language) and diarizers are not needed by every request, so they load
lazily. A model that failed to load is remembered as failed, so a missing aligner costs one
lookup, not one per request; `forget` clears an entry (e.g. after fetching the model).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

T = TypeVar("T")


class LazyModels(Generic[T]):
    def __init__(self, loader: Callable[..., T], remember: tuple[type[Exception], ...]) -> None:
        self._loader = loader
        self._remember = remember
        self._models: dict[Hashable, T | Exception] = {}
        self._lock = threading.Lock()

    def get(self, key: Hashable, *args: object, **kwargs: object) -> T:
        """The model for `key`, loading it with `loader(*args, **kwargs)` the first time."""
        with self._lock:
            if key not in self._models:
                try:
                    self._models[key] = self._loader(*args, **kwargs)
                except self._remember as exc:
                    self._models[key] = exc
            model = self._models[key]
        if isinstance(model, Exception):
            raise model
        return model

    def forget(self, key: Hashable | None = None) -> None:
        with self._lock:
            if key is None:
                self._models.clear()
            else:
                self._models.pop(key, None)

    def loaded(self) -> list[Hashable]:
        with self._lock:
            return [k for k, v in self._models.items() if not isinstance(v, Exception)]
