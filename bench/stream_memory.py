"""Memory of one long live stream: a real `hark serve` fed an hour of speech faster than real
time, its resident memory sampled from /proc while it runs.

Issue #16 asks that a stream's memory be bounded: an hour of audio played 20x faster than real
time must hold flat memory. A `hark serve` subprocess (bench/stream.py's server: the real
Whisper base, CPU int8 on 2 threads; `--model test` the random-weight fixture whisper-tiny)
gets one stream over `GET /v1/listen` (`hark.client_live`, language en): the shared long form
(`hark.dev.real_speech`, ~126 s of the reference clips with 0.3/2/6 s gaps) looped to
`--seconds` of audio, sent in 100 ms PCM16 messages at `--speed` times real time, with
`overload=drop` (the server drops the oldest queued audio past its inbox bound, the client is
never held back) or `overload=wait` (lossless: the server stops reading the socket while its
inbox is full, so the client is throttled to the server's pace and a run takes as long as the
server needs to transcribe everything).

Every 2 s of wall time the server process's VmRSS is read from /proc/PID/status; the
stream's `lag` events are kept. Positions in the run are fractions of its wall time (with
`wait` the client has sent everything long before the server is done). Reported: RSS of the
idle server, after warm-up (10 % of the run), at 50 % and at the end, the largest, the
kernel's high-water mark (VmHWM), the least-squares slope of RSS over the second half in MiB
per hour of audio, of all samples and of the floors (the lowest RSS in each tenth of the run:
each decode lifts RSS for a few seconds), the audio sent / processed / dropped (the `done`
event's stats), the finals received, and an estimate of what the session's finals list (the
transcript, which the server keeps for the stream's life by design) holds: the `done`
transcript's segments rebuilt as `hark.schema.Segment` objects under tracemalloc.

    .venv/bin/python bench/stream_memory.py                          # 1 h at 20x, drop
    .venv/bin/python bench/stream_memory.py --overload wait --seconds 600
    .venv/bin/python bench/stream_memory.py --model test --seconds 600
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import sys
import time
import tracemalloc
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from stream import THREADS, pcm16, program, server_process  # bench/stream.py

RATE = 16_000
CHUNK_S = 0.1
SAMPLE_EVERY_S = 2.0
MIB = 1024 * 1024


@dataclass
class Sample:
    wall: float  # seconds since the stream opened
    sent: float  # seconds of audio sent by then
    rss: float  # MiB


@dataclass
class Run:
    idle_rss: float = 0.0
    samples: list[Sample] = field(default_factory=list)
    lags: list[tuple[float, float, float]] = field(default_factory=list)  # (sent, lag, dropped)
    finals: int = 0
    sent: float = 0.0
    wall: float = 0.0
    send_wall: float = 0.0  # when the last audio was sent
    hwm: float = 0.0
    done: dict | None = None  # the done event's JSON


def memory(pid: int) -> tuple[float, float]:
    """(VmRSS, VmHWM) of process `pid`, MiB."""
    values = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, rest = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            values[key] = int(rest.split()[0]) / 1024  # kB
    return values["VmRSS"], values["VmHWM"]


async def play(url: str, pid: int, seconds: float, speed: float, overload: str) -> Run:
    from hark.client_live import AsyncLiveClient, Final, Lag

    run = Run(idle_rss=memory(pid)[0])
    loop = pcm16(program(0, None).audio)
    step = int(RATE * CHUNK_S) * 2
    wrapped = loop + loop[:step]  # a chunk crossing the loop's end reads on from its start
    total = round(seconds * RATE) * 2
    started = time.monotonic()

    async def sample() -> None:
        while True:
            rss, run.hwm = memory(pid)
            run.samples.append(Sample(time.monotonic() - started, run.sent, rss))
            await asyncio.sleep(SAMPLE_EVERY_S)

    async with AsyncLiveClient(url).listen(language="en", overload=overload) as live:
        started = time.monotonic()
        sampler = asyncio.create_task(sample())

        async def send() -> None:
            for index, offset in enumerate(range(0, total, step)):
                delay = started + index * CHUNK_S / speed - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
                position = offset % len(loop)
                chunk = wrapped[position : position + min(step, total - offset)]
                await live.send(chunk)  # with overload=wait this waits for the server
                run.sent = (offset + len(chunk)) / 2 / RATE
            run.send_wall = time.monotonic() - started
            await live.end()

        sender = asyncio.create_task(send())
        sender.add_done_callback(lambda task: task.cancelled() or task.exception())
        try:
            async for event in live:
                if isinstance(event, Final):
                    run.finals += 1
                elif isinstance(event, Lag):
                    run.lags.append((run.sent, event.seconds, event.dropped_s))
            if sender.done() and sender.exception() is not None:
                raise sender.exception()  # type: ignore[misc]
        finally:
            for task in (sender, sampler):
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
    run.wall = time.monotonic() - started
    rss, run.hwm = memory(pid)
    run.samples.append(Sample(run.wall, run.sent, rss))
    run.done = live.done.raw if live.done is not None else None
    return run


def at(samples: list[Sample], wall: float) -> Sample:
    """The first sample at or after `wall` seconds into the stream."""
    return next((s for s in samples if s.wall >= wall), samples[-1])


def floors(samples: list[Sample], wall: float, bins: int = 10) -> list[float]:
    """The lowest RSS in each tenth of the run: what stays held between decodes (each decode
    lifts RSS for a few seconds, then it falls back)."""
    out = []
    for k in range(bins):
        inside = [s.rss for s in samples if k * wall / bins <= s.wall < (k + 1) * wall / bins]
        out.append(min(inside) if inside else float("nan"))
    return out


def transcript_bytes(transcript: dict) -> tuple[int, int, int]:
    """(segments, words, bytes Python allocates for them as `hark.schema.Segment` objects:
    what the session's `finals` list holds for this transcript)."""
    from hark.schema import Segment

    dicts = transcript.get("segments") or []
    known = set(Segment.model_fields)
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    segments = [Segment.model_validate({k: v for k, v in d.items() if k in known}) for d in dicts]
    held = tracemalloc.get_traced_memory()[0] - before
    tracemalloc.stop()
    return len(segments), sum(len(s.words) for s in segments), held


def report(run: Run, args: argparse.Namespace) -> None:
    samples = run.samples
    seconds = run.sent
    # Positions are fractions of the stream's wall time, audio is taken to pass through it
    # evenly: with overload=wait the client has sent everything long before the server has
    # processed it (minutes of audio wait in the TCP buffers), so "audio sent" is no clock.
    per_hour = run.wall / seconds * 3600  # wall seconds per hour of the run's audio
    warm, half, end = at(samples, 0.1 * run.wall), at(samples, 0.5 * run.wall), samples[-1]
    second_half = [s for s in samples if s.wall >= 0.5 * run.wall]
    slope = float("nan")
    if len(second_half) >= 3:
        x = np.array([s.wall for s in second_half])
        slope = float(np.polyfit(x, [s.rss for s in second_half], 1)[0]) * per_hour
    floor = floors(samples, run.wall)
    floor_slope = float(np.polyfit(np.arange(5, 10) + 0.5, floor[5:], 1)[0]) * 10
    floor_slope *= 3600 / seconds  # MiB per tenth of the run -> per hour of audio
    stats = (run.done or {}).get("stats") or {}
    transcript = (run.done or {}).get("transcript") or {}
    segments, words, held = transcript_bytes(transcript)
    processed = float(stats.get("audio_s") or 0.0)
    drops = sum(1 for a, b in zip(run.lags, run.lags[1:], strict=False) if b[2] > a[2])
    drops += bool(run.lags and run.lags[0][2] > 0)
    model = "random-weight whisper-tiny" if args.model == "test" else "real Whisper base"
    print(
        f"\n{model}, CPU int8, {args.threads} threads; {seconds:.0f} s of audio (the long form "
        f"looped) at {args.speed:g}x, 100 ms messages, overload={args.overload}; "
        f"load average at the start {args.load}"
    )
    print(
        "\n| overload | audio sent s | wall s | RSS idle MiB | after warm-up (10 %) | at 50 % "
        "| at end | max (VmHWM) | slope, 2nd half MiB/h of audio: all samples / floors |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    largest = max(s.rss for s in samples)
    print(
        f"| {args.overload} | {seconds:.0f} | {run.wall:.0f} | {run.idle_rss:.0f} | "
        f"{warm.rss:.0f} | {half.rss:.0f} | {end.rss:.0f} | {largest:.0f} ({run.hwm:.0f}) | "
        f"{slope:+.1f} / {floor_slope:+.1f} |"
    )
    pace = seconds / max(run.send_wall, 1e-9)
    dropped = float(stats.get("dropped_s") or 0.0)
    print(
        f"\naudio sent {seconds:.0f} s in {run.send_wall:.0f} s ({pace:.1f}x real time), "
        f"processed {processed:.0f} s, dropped {dropped:.0f} s (in {drops} lag events "
        f"reporting new drops); done stats {json.dumps(stats)}"
    )
    lags = [lag for _, lag, _ in run.lags]
    if lags:
        print(f"lag events {len(lags)}: max {max(lags):.1f} s, last {lags[-1]:.1f} s")
    finals_per_hour = held / max(processed, 1e-9) * 3600
    print(
        f"finals received {run.finals}; transcript {segments} segments, {words} words: "
        f"{held / 1024:.0f} KiB as Segment objects, {finals_per_hour / MIB:.2f} MiB per hour of "
        "processed audio"
    )
    print(f"RSS floor per tenth of the run, MiB: {' '.join(f'{v:.0f}' for v in floor)}")
    trace = " ".join(f"{s.wall:.0f}:{s.rss:.0f}" for s in samples[:: max(1, len(samples) // 24)])
    print(f"RSS over the run (wall s: MiB): {trace}")
    if args.samples:
        lines = [
            "wall_s,sent_s,rss_mib",
            *(f"{s.wall:.1f},{s.sent:.1f},{s.rss:.1f}" for s in samples),
        ]
        Path(args.samples).write_text("\n".join(lines) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=3600.0, help="audio to play, s")
    parser.add_argument("--speed", type=float, default=20.0, help="times real time")
    parser.add_argument("--overload", choices=["drop", "wait"], default="drop")
    parser.add_argument(
        "--model",
        choices=["base", "test"],
        default="base",
        help="base: the real Whisper base; test: the random-weight fixture whisper-tiny",
    )
    parser.add_argument("--threads", type=int, default=THREADS, help="server CPU threads")
    parser.add_argument("--samples", default=None, help="write the RSS samples here (CSV)")
    args = parser.parse_args()
    args.load = " ".join(f"{v:.2f}" for v in os.getloadavg())
    model = None
    if args.model == "test":
        from hark.dev.fixtures.whisper import ensure_test_models

        models = Path(os.environ.get("HARK_TEST_MODELS", Path.cwd() / ".cache" / "test-models"))
        ensure_test_models(models)
        model = models / "whisper-tiny"
    with server_process("cpu", 1, args.threads, model=model) as (url, process):
        time.sleep(2.0)  # let the freshly ready server settle before its idle RSS is read
        run = asyncio.run(play(url, process.pid, args.seconds, args.speed, args.overload))
    report(run, args)


if __name__ == "__main__":
    main()
