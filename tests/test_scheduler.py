"""Continuous batching across requests: same results, fairness, back-pressure, cancel."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

import hark
from hark.audio import load_audio
from hark.pipeline import Pipeline
from hark.scheduler import CancelledError, QueueFullError, Scheduler, ShuttingDownError
from helpers import FIXED

CLIPS = [
    "jfk.flac",
    "pyannote/sample.wav",
    "librispeech/1089-134686-0000.flac",
    "pyannote/dev00.wav",
    "librispeech/1089-134686-0001.flac",
    "pyannote/dev01.wav",
]


@pytest.fixture(scope="module")
def pipeline(test_models) -> Pipeline:
    return hark.load_pipeline(test_models / "whisper-tiny", device="cpu", compute_type="int8")


@pytest.fixture(scope="module")
def clips(shared_audio) -> list[np.ndarray]:
    return [load_audio(shared_audio / name) for name in CLIPS]


def test_concurrent_requests_match_one_by_one(pipeline, clips) -> None:
    alone = [pipeline.transcribe(c, language="en", **FIXED).to_dict() for c in clips]
    scheduler = Scheduler(pipeline, batch_size=4)
    try:
        with ThreadPoolExecutor(len(clips)) as pool:
            mixed = list(
                pool.map(lambda c: scheduler.transcribe(c, language="en", **FIXED).to_dict(), clips)
            )
        stats = scheduler.stats()
    finally:
        scheduler.close()
    assert mixed == alone
    assert stats.batched_chunks >= len(clips)
    assert stats.batches < stats.batched_chunks, "no batch mixed two requests"
    assert stats.requests == 0


def test_short_request_is_not_starved_by_a_long_one(pipeline, clips) -> None:
    long_audio = np.concatenate(clips * 6)  # ~12 minutes of speech: dozens of chunks
    scheduler = Scheduler(pipeline, batch_size=1)
    asr_done: dict[str, int] = {}  # the batch count when each request's last chunk was decoded

    def run(name: str, audio: np.ndarray) -> None:
        def on_progress(p) -> None:
            if p.stage == "asr" and p.done == p.total and p.total:
                asr_done[name] = scheduler.stats().batches

        scheduler.transcribe(audio, language="en", progress=on_progress, **FIXED)

    try:
        long_thread = threading.Thread(target=run, args=("long", long_audio))
        long_thread.start()
        while scheduler.stats().batches == 0:  # the long job holds the model now
            time.sleep(0.01)
        run("short", clips[0])
        long_thread.join()
    finally:
        scheduler.close()
    total = scheduler.stats().batches
    # Round-robin: the short request's one chunk waits at most a batch or two, not until the
    # long job's dozens of chunks are through.
    assert asr_done["short"] < asr_done["long"] == total
    assert asr_done["short"] <= total // 3


def test_full_queue_is_refused_then_recovers(pipeline, clips) -> None:
    scheduler = Scheduler(pipeline, max_requests=1)
    try:
        started = threading.Event()
        thread = threading.Thread(
            target=lambda: scheduler.transcribe(
                np.concatenate(clips), language="en", progress=lambda p: started.set(), **FIXED
            )
        )
        thread.start()
        started.wait(10)
        assert scheduler.saturated
        with pytest.raises(QueueFullError, match="retry"):
            scheduler.transcribe(clips[0], language="en", **FIXED)
        thread.join()
        assert scheduler.transcribe(clips[0], language="en", **FIXED).segments
    finally:
        scheduler.close()


def test_cancel_stops_one_request_only(pipeline, clips) -> None:
    scheduler = Scheduler(pipeline, batch_size=1)
    cancel = threading.Event()
    errors: list[BaseException] = []

    def long_job() -> None:
        try:
            scheduler.transcribe(
                np.concatenate(clips * 2),
                language="en",
                cancel=cancel,
                progress=lambda p: p.stage == "asr" and p.done and cancel.set(),
                **FIXED,
            )
        except BaseException as exc:
            errors.append(exc)

    try:
        thread = threading.Thread(target=long_job)
        thread.start()
        thread.join(120)
        assert errors and isinstance(errors[0], CancelledError)
        assert scheduler.stats().requests == 0 and scheduler.stats().waiting_chunks == 0
        assert scheduler.transcribe(clips[0], language="en", **FIXED).segments
    finally:
        scheduler.close()


def test_a_failing_batch_does_not_stop_the_scheduler(pipeline, clips, monkeypatch) -> None:
    real = pipeline.asr.transcribe_batch

    def flaky(audios, chunks, languages, *rest):  # the decoder fails on French requests
        if "fr" in languages:
            raise RuntimeError("CUDA error: out of memory")
        return real(audios, chunks, languages, *rest)

    monkeypatch.setattr(pipeline.asr, "transcribe_batch", flaky)
    scheduler = Scheduler(pipeline, batch_size=1)
    try:
        with pytest.raises(RuntimeError, match="out of memory"):
            scheduler.transcribe(clips[1], language="fr", **FIXED)
        assert scheduler.transcribe(clips[0], language="en", **FIXED).segments
        assert scheduler.stats().requests == 0
    finally:
        scheduler.close()


def test_closed_scheduler_refuses_work(pipeline, clips) -> None:
    scheduler = Scheduler(pipeline)
    scheduler.close()
    with pytest.raises(ShuttingDownError):
        scheduler.transcribe(clips[0], language="en", **FIXED)


def test_cancel_stops_at_the_next_stage_boundary(pipeline, clips) -> None:
    """Issue 13: a cancel (client gone, /cancel, deadline) noticed before the ASR batches: the
    request stops when VAD ends, no chunk of it is decoded, and its slot is free again."""
    scheduler = Scheduler(pipeline, batch_size=2)
    cancel = threading.Event()
    stages: list[str] = []

    def progress(p) -> None:
        stages.append(p.stage)
        if p.stage == "vad" and p.done == p.total:
            cancel.set()  # as a deadline or a /cancel would, while VAD runs

    try:
        with pytest.raises(CancelledError):
            scheduler.transcribe(clips[0], language="en", progress=progress, cancel=cancel, **FIXED)
        stats = scheduler.stats()
        again = scheduler.transcribe(clips[0], language="en", **FIXED)  # the slot is free
    finally:
        scheduler.close()
    assert stages == ["vad", "vad"]
    assert stats.batches == 0 and stats.requests == 0
    assert again.segments
