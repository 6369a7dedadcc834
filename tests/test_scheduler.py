"""The engine's shared ASR stage and its admission: continuous batching across requests
(same results, fairness), back-pressure, cancel, live windows ahead of file chunks."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

import hark
from hark.admission import QueueFullError, ShuttingDownError
from hark.audio import load_audio
from hark.engine import Engine
from hark.scheduler import CancelledError
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
def engine(test_models) -> Engine:
    return hark.load_engine(test_models / "whisper-tiny", device="cpu", compute_type="int8")


@pytest.fixture(scope="module")
def clips(shared_audio) -> list[np.ndarray]:
    return [load_audio(shared_audio / name) for name in CLIPS]


def test_concurrent_requests_match_one_by_one(engine, clips) -> None:
    alone = [engine.transcribe(c, language="en", **FIXED).to_dict() for c in clips]
    shared = Engine(engine.pipeline, batch_size=4)
    try:
        with ThreadPoolExecutor(len(clips)) as pool:
            mixed = list(
                pool.map(lambda c: shared.transcribe(c, language="en", **FIXED).to_dict(), clips)
            )
        stats = shared.scheduler.stats()
    finally:
        shared.close()
    assert mixed == alone
    assert stats.batched_chunks >= len(clips)
    assert stats.batches < stats.batched_chunks, "no batch mixed two requests"
    assert shared.admission.lane("requests").stats().running == 0


def test_short_request_is_not_starved_by_a_long_one(engine, clips) -> None:
    long_audio = np.concatenate(clips * 6)  # ~12 minutes of speech: dozens of chunks
    shared = Engine(engine.pipeline, batch_size=1)
    asr_done: dict[str, int] = {}  # the batch count when each request's last chunk was decoded

    def run(name: str, audio: np.ndarray) -> None:
        def on_progress(p) -> None:
            if p.stage == "asr" and p.done == p.total and p.total:
                asr_done[name] = shared.scheduler.stats().batches

        shared.transcribe(audio, language="en", progress=on_progress, **FIXED)

    try:
        long_thread = threading.Thread(target=run, args=("long", long_audio))
        long_thread.start()
        while shared.scheduler.stats().batches == 0:  # the long job holds the model now
            time.sleep(0.01)
        run("short", clips[0])
        long_thread.join()
    finally:
        shared.close()
    total = shared.scheduler.stats().batches
    # Round-robin: the short request's one chunk waits at most a batch or two, not until the
    # long job's dozens of chunks are through.
    assert asr_done["short"] < asr_done["long"] == total
    assert asr_done["short"] <= total // 3


def test_full_queue_is_refused_then_recovers(engine, clips) -> None:
    shared = Engine(engine.pipeline, max_requests=1, queue_size=0)
    try:
        started = threading.Event()
        thread = threading.Thread(
            target=lambda: shared.transcribe(
                np.concatenate(clips), language="en", progress=lambda p: started.set(), **FIXED
            )
        )
        thread.start()
        started.wait(10)
        assert shared.admission.lane("requests").saturated
        with pytest.raises(QueueFullError, match="retry"):
            shared.transcribe(clips[0], language="en", **FIXED)
        thread.join()
        assert shared.transcribe(clips[0], language="en", **FIXED).segments
    finally:
        shared.close()


def test_cancel_stops_one_request_only(engine, clips) -> None:
    shared = Engine(engine.pipeline, batch_size=1)
    cancel = threading.Event()
    errors: list[BaseException] = []

    def long_job() -> None:
        try:
            shared.transcribe(
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
        assert shared.admission.lane("requests").stats().running == 0
        assert shared.scheduler.stats().waiting_chunks == 0
        assert shared.transcribe(clips[0], language="en", **FIXED).segments
    finally:
        shared.close()


def test_a_failing_batch_does_not_stop_the_scheduler(engine, clips, monkeypatch) -> None:
    real = engine.pipeline.asr.transcribe_batch

    def flaky(audios, chunks, languages, *rest, **kw):  # the decoder fails on French requests
        if "fr" in languages:
            raise RuntimeError("CUDA error: out of memory")
        return real(audios, chunks, languages, *rest, **kw)

    monkeypatch.setattr(engine.pipeline.asr, "transcribe_batch", flaky)
    shared = Engine(engine.pipeline, batch_size=1)
    try:
        with pytest.raises(RuntimeError, match="out of memory"):
            shared.transcribe(clips[1], language="fr", **FIXED)
        assert shared.transcribe(clips[0], language="en", **FIXED).segments
        assert shared.admission.lane("requests").stats().running == 0
    finally:
        shared.close()


def test_closed_scheduler_refuses_work(engine, clips) -> None:
    shared = Engine(engine.pipeline)
    shared.close()
    with pytest.raises(ShuttingDownError):
        shared.transcribe(clips[0], language="en", **FIXED)


def test_cancel_stops_at_the_next_stage_boundary(engine, clips) -> None:
    """Issue 13: a cancel (client gone, /cancel, deadline) noticed before the ASR batches: the
    request stops when VAD ends, no chunk of it is decoded, and its slot is free again."""
    shared = Engine(engine.pipeline, batch_size=2)
    cancel = threading.Event()
    stages: list[str] = []

    def progress(p) -> None:
        stages.append(p.stage)
        if p.stage == "vad" and p.done == p.total:
            cancel.set()  # as a deadline or a /cancel would, while VAD runs

    try:
        with pytest.raises(CancelledError):
            shared.transcribe(clips[0], language="en", progress=progress, cancel=cancel, **FIXED)
        stats = shared.scheduler.stats()
        again = shared.transcribe(clips[0], language="en", **FIXED)  # the slot is free
    finally:
        shared.close()
    assert stages == ["vad", "vad"]
    assert stats.batches == 0 and shared.admission.lane("requests").stats().running == 0
    assert again.segments


def test_live_windows_go_ahead_of_file_chunks(engine, clips, monkeypatch) -> None:
    """A live window submitted while a long file decodes is in the very next batch; the
    prompts in one batch have as many tokens (CTranslate2 needs the start token at one
    position in a batch)."""
    shared = Engine(engine.pipeline, batch_size=2)
    batches: list[list[str | None]] = []
    real = engine.pipeline.asr.transcribe_batch

    def recording(audios, chunks, languages, *rest, prompts=None, **kw):
        batches.append(list(prompts or []))
        return real(audios, chunks, languages, *rest, prompts=prompts, **kw)

    monkeypatch.setattr(engine.pipeline.asr, "transcribe_batch", recording)
    options = hark.TranscribeOptions(language="en", **FIXED)
    window = clips[0][: 16000 * 5]
    try:
        long_file = threading.Thread(
            target=shared.transcribe, args=(np.concatenate(clips * 3),), kwargs={"options": options}
        )
        long_file.start()
        while shared.scheduler.stats().batches < 2:
            time.sleep(0.01)
        with ThreadPoolExecutor(2) as pool:
            before = shared.scheduler.stats().batches
            windows = list(
                pool.map(
                    lambda prompt: shared.decode_window(
                        window, options, language="en", prompt=prompt
                    ),
                    ["first stream", "second stream"],
                )
            )
            after = shared.scheduler.stats().batches
        long_file.join()
    finally:
        shared.close()
    assert all(w.chunk.start == 0.0 for w in windows)
    # Each window waited at most for the batch running when it arrived, plus its own.
    assert after - before <= 3
    assert batches and all(len({len(p) for p in b}) == 1 for b in batches), batches


def test_final_windows_go_ahead_of_other_live_windows(engine, clips, monkeypatch) -> None:
    """A window whose words become final (`priority="final"`, a caption waits on it) is
    decoded before live windows that were queued earlier; they decode with different beams,
    so in separate batches, and the worker is busy with a file chunk while both arrive."""
    shared = Engine(engine.pipeline, batch_size=1)
    order: list[int] = []
    busy, release = threading.Event(), threading.Event()
    real = engine.pipeline.asr.transcribe_batch

    def recording(audios, chunks, languages, options, *rest, **kw):
        if not busy.is_set():  # the file's first chunk holds the worker
            busy.set()
            release.wait(10)
        order.append(options.beam_size)
        return real(audios, chunks, languages, options, *rest, **kw)

    monkeypatch.setattr(engine.pipeline.asr, "transcribe_batch", recording)
    step = hark.TranscribeOptions(language="en", **FIXED)
    final = hark.TranscribeOptions(language="en", **{**FIXED, "beam_size": 2})
    window = clips[0][: 16000 * 3]
    try:
        with ThreadPoolExecutor(3) as pool:
            pool.submit(shared.transcribe, clips[0][: 16000 * 5], options=step)
            assert busy.wait(10)
            first = pool.submit(shared.decode_window, window, step, language="en", prompt=None)
            while shared.scheduler.stats().waiting_chunks < 1:
                time.sleep(0.01)
            then = pool.submit(
                shared.decode_window, window, final, language="en", prompt=None, priority="final"
            )
            while shared.scheduler.stats().waiting_chunks < 2:
                time.sleep(0.01)
            release.set()
            first.result(30), then.result(30)
    finally:
        shared.close()
    assert order[:3] == [1, 2, 1], order  # the file's chunk, the final window, the step one


def test_live_windows_with_different_prompts_share_one_batch(test_models, clips, monkeypatch):
    """Two streams' windows whose prompts differ (words and token counts) decode in one batch,
    their prompts cut to the same bucket, and each gets what it gets decoded alone."""
    engine = hark.load_engine(test_models / "whisper-base", device="cpu", compute_type="int8")
    asr = engine.pipeline.asr
    prompts = [
        "And so my fellow Americans, ask not what your country can do for you.",
        "He hoped there would be stew for dinner, turnips and carrots and bruised potatoes.",
    ]
    full = [asr.prompt_tokens(p) for p in prompts]
    cut = [asr.prompt_tokens(p, bucketed=True) for p in prompts]
    assert len(full[0]) != len(full[1]) and len(cut[0]) == len(cut[1]) == 16
    assert all(c == f[-16:] for c, f in zip(cut, full, strict=True))  # the most recent kept
    options = hark.TranscribeOptions(language="en", **FIXED)
    windows = [clips[0][: 16000 * 5], clips[2][: 16000 * 4]]
    try:
        alone = [
            engine.decode_window(w, options, language="en", prompt=p)
            for w, p in zip(windows, prompts, strict=True)
        ]
        batches: list[list[tuple[int, ...]]] = []
        gate = threading.Event()
        real = asr.transcribe_batch

        def gated(audios, chunks, languages, *rest, prompts=None, **kw):
            gate.wait(60)  # the first batch holds the worker until both windows are queued
            batches.append(list(prompts or []))
            return real(audios, chunks, languages, *rest, prompts=prompts, **kw)

        monkeypatch.setattr(asr, "transcribe_batch", gated)
        before = engine.scheduler.stats()
        with ThreadPoolExecutor(3) as pool:
            other = hark.TranscribeOptions(language="en", **{**FIXED, "max_new_tokens": 8})
            blocker = pool.submit(
                engine.decode_window, windows[0], other, language="en", prompt=None
            )
            while engine.scheduler.stats().waiting_chunks:  # the blocker is in its batch
                time.sleep(0.01)
            _release_when_waiting(engine, gate, 2)
            mixed = list(
                pool.map(
                    lambda wp: engine.decode_window(wp[0], options, language="en", prompt=wp[1]),
                    zip(windows, prompts, strict=True),
                )
            )
            blocker.result()
        after = engine.scheduler.stats()
    finally:
        engine.close()
    assert after.batches - before.batches == 2, batches  # the blocker's, then both windows
    assert batches[-1] == cut, batches
    assert [r.text for r in mixed] == [r.text for r in alone]
    assert [r.tokens for r in mixed] == [r.tokens for r in alone]


def _release_when_waiting(engine: Engine, gate: threading.Event, count: int) -> None:
    """Set `gate` (from another thread) once `count` chunks wait in the scheduler."""

    def release() -> None:
        deadline = time.monotonic() + 60
        while engine.scheduler.stats().waiting_chunks < count and time.monotonic() < deadline:
            time.sleep(0.01)
        gate.set()

    threading.Thread(target=release, daemon=True).start()


def test_a_padded_live_window_is_encoded_shorter_than_30_s(engine, clips, monkeypatch) -> None:
    """`encoder_pad_s`: a live window is encoded as its length plus the padding in whole
    seconds (CTranslate2 takes shorter inputs), a batch at its longest window's length; file
    chunks and unpadded windows stay 30 s inputs."""
    asr = engine.pipeline.asr
    shapes: list[tuple[int, ...]] = []
    real = asr.encode

    def recording(features):
        shapes.append(tuple(features.shape))
        return real(features)

    monkeypatch.setattr(asr, "encode", recording)
    options = hark.TranscribeOptions(language="en", **FIXED)
    window = clips[0][: round(16000 * 4.5)]
    padded = engine.decode_window(window, options, language="en", prompt=None, encoder_pad_s=2)
    plain = engine.decode_window(window, options, language="en", prompt=None)
    assert shapes == [(1, asr.n_mels, 700), (1, asr.n_mels, 3000)]
    assert padded.words and plain.words
    assert max(w["end"] for w in padded.words) <= 4.5 + 0.02
    assert asr.encoder_frames(29.5, 2.0) == 3000 and asr.encoder_frames(0.3, 0.0) == 200
