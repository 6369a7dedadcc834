"""Scheduler benchmark: N concurrent 20-s requests through one Engine (continuous batching)
vs the same N one after another through Pipeline.transcribe; same process, same run.

The base-shaped random-weight test model on CPU, default decoding (beam 5, temperature
fallback) with language="en". Random weights stop by themselves after ~20 tokens, far fewer
than real speech gives (20 s of speech is ~50 words, ~65 tokens), so by default end-of-text is
suppressed and each chunk decodes `--new-tokens` (64) tokens, as a real 20-s clip would;
`--new-tokens 0` keeps the random model's own short outputs. Also times the encoder and the
decoder on one batch, to show where the time goes. Prints markdown.

    .venv/bin/python bench/scheduler.py                       # 16 requests, 2 threads
    .venv/bin/python bench/scheduler.py --new-tokens 0        # the random model's ~20 tokens
    .venv/bin/python bench/scheduler.py --requests 8 --threads 4 --batch-size 16
"""

from __future__ import annotations

import argparse
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

import hark
from hark.audio import load_audio
from hark.dev.fixtures.whisper import ensure_test_models
from hark.engine import Engine

ROOT = Path(__file__).resolve().parents[1]
AUDIO = ROOT.parent / "shared" / "audio"
SOURCES = ["pyannote/dev00.wav", "pyannote/sample.wav", "jfk.flac", "pyannote/dev01.wav"]


def clips(n: int, seconds: float) -> list[np.ndarray]:
    """`n` different 20-s clips (sources looped and offset so no two are identical)."""
    out = []
    for i in range(n):
        audio = load_audio(AUDIO / SOURCES[i % len(SOURCES)])
        reps = int(np.ceil((seconds * 16000 * 2) / audio.size)) + 1
        start = int((i // len(SOURCES)) * 1.7 * 16000)
        out.append(np.tile(audio, reps)[start : start + int(seconds * 16000)].astype(np.float32))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=None)
    parser.add_argument(
        "--new-tokens",
        type=int,
        default=64,
        help="tokens per chunk, end-of-text suppressed (0: model decides)",
    )
    parser.add_argument("--models", type=Path, default=ROOT / ".cache" / "test-models")
    args = parser.parse_args()

    path = ensure_test_models(args.models, architectures=("base",))["whisper-base"]
    engine = hark.load_engine(path, device="cpu", compute_type="int8", cpu_threads=args.threads)
    options: dict[str, object] = dict(language="en", batch_size=args.batch_size)
    if args.new_tokens:
        options.update(suppress_tokens=[-1, 50257], max_new_tokens=args.new_tokens)
    audio = clips(args.requests, args.seconds)
    engine.transcribe(audio[0][: 16000 * 5], **options)  # warm-up

    started = time.perf_counter()
    serial = [engine.transcribe(a, **options) for a in audio]
    serial_s = time.perf_counter() - started

    shared = Engine(engine.pipeline, max_requests=args.requests, batch_size=args.batch_size)
    started = time.perf_counter()
    with ThreadPoolExecutor(args.requests) as pool:
        together = list(pool.map(lambda a: shared.transcribe(a, **options), audio))
    together_s = time.perf_counter() - started
    stats = shared.scheduler.stats()
    shared.close()

    chunks = sum(len(t.segments) for t in serial)
    words = [len(t.word_segments) for t in serial], [len(t.word_segments) for t in together]
    audio_s = args.requests * args.seconds
    print(f"model whisper-base (random weights), CPU int8, {args.threads} threads, ")
    batch = args.batch_size or engine.scheduler.default_batch_size
    print(f"{args.requests} requests x {args.seconds:g} s, batch {batch}")
    print()
    print("| mode | wall s | requests/s | audio s/s | speed-up |")
    print("|---|---:|---:|---:|---:|")
    for name, secs in (("one after another", serial_s), ("scheduler, concurrent", together_s)):
        rps = args.requests / secs
        print(
            f"| {name} | {secs:.1f} | {rps:.2f} | {audio_s / secs:.1f} | {serial_s / secs:.2f}x |"
        )
    print()
    print(
        f"scheduler: {stats.batches} batches, {stats.batched_chunks} chunks "
        f"({stats.batched_chunks / max(1, stats.batches):.1f} per batch); segments {chunks}; "
        f"words serial {sum(words[0])}, scheduler {sum(words[1])}"
    )
    print(f"decoding: beam 5, {args.new_tokens or 'model-chosen'} new tokens per chunk")
    profile(engine, audio[0], options)


def profile(engine: hark.Engine, audio: np.ndarray, options: dict[str, object]) -> None:
    """Encoder vs whole ASR time for one batch of chunks (where the time goes)."""
    from hark.pipeline import merge_options

    batch_size = options.get("batch_size")
    opts = merge_options(None, options)
    prepared = engine.pipeline.prepare(audio, opts, lambda _p: None)
    asr = engine.pipeline.asr
    chunks = prepared.chunks[: batch_size or engine.scheduler.default_batch_size]
    audios = [c.audio(prepared.samples) for c in chunks]
    lock = threading.Lock()
    timings: dict[str, float] = {}
    encode = asr.encode

    def timed_encode(*a: object, **k: object) -> object:
        t = time.perf_counter()
        out = encode(*a, **k)
        with lock:
            timings["encode"] = timings.get("encode", 0.0) + time.perf_counter() - t
        return out

    asr.encode = timed_encode  # type: ignore[method-assign]
    try:
        t = time.perf_counter()
        asr.transcribe_batch(
            audios, chunks, prepared.chunk_languages()[: len(chunks)], prepared.decode
        )
        total = time.perf_counter() - t
    finally:
        del asr.encode
    enc = timings.get("encode", float("nan"))
    print(
        f"one batch of {len(chunks)} chunks: {total:.2f} s, encoder {enc:.2f} s "
        f"({100 * enc / total:.0f}%), decoder and the rest {total - enc:.2f} s"
    )


if __name__ == "__main__":
    main()
