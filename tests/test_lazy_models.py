"""hark.lazy_models: per-key locks, remembered failures, idle unload without double loads."""

from __future__ import annotations

import gc
import threading
import time

import pytest

from hark.lazy_models import LazyModels


class Model:
    def __init__(self, key: str) -> None:
        self.key = key


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_a_slow_load_blocks_only_its_own_key() -> None:
    release = threading.Event()
    started = threading.Event()

    def load(key: str) -> Model:
        if key == "slow":
            started.set()
            assert release.wait(10)
        return Model(key)

    models: LazyModels[Model] = LazyModels(load, (FileNotFoundError,))
    slow = threading.Thread(target=models.get, args=("slow", "slow"))
    slow.start()
    assert started.wait(10)
    t0 = time.monotonic()
    assert models.get("fast", "fast").key == "fast"  # not behind the slow load
    assert time.monotonic() - t0 < 5
    release.set()
    slow.join(10)
    assert sorted(models.loaded()) == ["fast", "slow"]


def test_concurrent_first_lookups_load_once() -> None:
    calls: list[str] = []

    def load(key: str) -> Model:
        calls.append(key)
        time.sleep(0.05)
        return Model(key)

    models: LazyModels[Model] = LazyModels(load, (FileNotFoundError,))
    got: list[Model] = []
    threads = [threading.Thread(target=lambda: got.append(models.get("a", "a"))) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert calls == ["a"] and len({id(m) for m in got}) == 1


def test_failures_are_remembered_others_are_not() -> None:
    calls: list[str] = []

    def load(key: str) -> Model:
        calls.append(key)
        if key == "missing":
            raise FileNotFoundError(key)
        raise RuntimeError("transient")

    models: LazyModels[Model] = LazyModels(load, (FileNotFoundError,))
    for _ in range(2):
        with pytest.raises(FileNotFoundError):
            models.get("missing", "missing")
        with pytest.raises(RuntimeError):
            models.get("flaky", "flaky")
    assert calls == ["missing", "flaky", "flaky"]
    models.forget("missing")
    with pytest.raises(FileNotFoundError):
        models.get("missing", "missing")
    assert calls.count("missing") == 2


def test_idle_models_unload_and_a_model_in_use_is_never_loaded_twice() -> None:
    clock = Clock()
    loads: list[str] = []

    def load(key: str) -> Model:
        loads.append(key)
        return Model(key)

    models: LazyModels[Model] = LazyModels(
        load, (FileNotFoundError,), idle_unload_s=60, clock=clock
    )
    held = models.get("a", "a")  # a long request keeps using it
    models.get("b", "b")
    clock.now = 30
    models.get("b", "b")
    clock.now = 61
    assert models.unload_idle() == ["a"]
    assert models.loaded() == ["b"]
    assert models.get("a", "a") is held and loads == ["a", "b"]  # revived, not reloaded
    clock.now = 200
    assert sorted(models.unload_idle()) == ["a", "b"]
    del held
    gc.collect()
    assert models.get("a", "a") is not None and loads == ["a", "b", "a"]  # freed, so reloaded


def test_the_sweeper_unloads_without_requests() -> None:
    models: LazyModels[Model] = LazyModels(Model, (FileNotFoundError,), idle_unload_s=0.2)
    models.get("a", "a")
    deadline = time.monotonic() + 10
    while models.loaded():
        assert time.monotonic() < deadline, "the idle model was never unloaded"
        time.sleep(0.05)


def test_bad_idle_values_are_refused() -> None:
    for bad in (0, -1, float("nan")):
        with pytest.raises(ValueError, match="idle_unload_s"):
            LazyModels(Model, (FileNotFoundError,), idle_unload_s=bad)
