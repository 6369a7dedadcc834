"""Live transcription benchmark: caption latency, lag and streaming WER over `GET /v1/listen`.

A real `hark serve` (a subprocess, so that this process's pacing never competes with the
server for the GIL) runs the real Whisper base (`hark.dev.real_whisper.real_whisper_base`,
CPU int8 on 2 threads by default; `--device cuda` float16 on a GPU machine). For each level
of concurrency N (1, 2, 4, 8 by default) N streams play the shared long-form speech
(`hark.dev.real_speech`: the reference clips separated by 0.3/2/6 s gaps, ~2 minutes) at
real-time pace, 100 ms per message, through `hark.client_live`; stream k starts k clips into
the sequence so that the streams do not speak and pause in lockstep.

Measured per level, from the client's side (what a caption viewer sees):
- first partial: the first partial (or final) with text whose audio span reaches 0.1 s into
  an utterance's speech, after the moment its first speech sample was sent (Silero's onset
  in the clip; one value per clip; a partial still showing the previous utterance's words
  but spanning the new one's start counts too, so this can flatter a little);
- final: when the utterance's last final arrived (the latest-ending final that begins inside
  it), after its last speech sample was sent (Silero's end of speech in the clip), in
  two kinds: after a pause (the utterance is followed by 2 or 6 s of silence, or is the
  last: speech ended, the server's 0.5 s endpoint applies, the issue's target) and at a
  0.3 s gap (speech goes on: shorter than a pause, so only a sentence end commits it);
- lag: the server's `lag` events over time: mean of the last third, the largest, and the
  slope (s per s of audio). A level "holds real time" when every stream ended, the slope is
  under 0.02 s/s (1.2 s per minute) and the last third's mean lag is under 2 s.
Then the streaming WER of the 1-stream run against Hark's offline `POST /asr` on the same
long form and the same server (both with language=en), scored with `hark.dev.accuracy`.

    .venv/bin/python bench/stream.py                         # CPU, 1/2/4/8 streams
    .venv/bin/python bench/stream.py --streams 1,2 --seconds 60
    .venv/bin/python bench/stream.py --device cuda --streams 1,4,16,32,64
    .venv/bin/python bench/stream.py --url http://host:9080  # a server already running
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import io
import itertools
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import wave
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
import numpy as np

if TYPE_CHECKING:
    from hark.dev.real_speech import Clip

ROOT = Path(__file__).resolve().parents[1]
AUDIO = ROOT.parent / "shared" / "audio"
CHUNK_S = 0.1
RATE = 16_000
THREADS = 2


# ------------------------------------------------------------------------------ audio


@dataclass(frozen=True)
class Program:
    """One stream's audio and where its utterances are (seconds from the stream start)."""

    audio: np.ndarray
    utterances: list[tuple[float, float]]  # each clip's span
    reference: str
    speech: list[tuple[float, float]]  # each clip's speech (Silero): first onset, last end

    def paused(self, index: int) -> bool:
        """Whether utterance `index` is followed by a pause (>= 1 s of silence) or is last."""
        if index + 1 >= len(self.utterances):
            return True
        return self.utterances[index + 1][0] - self.utterances[index][1] >= 1.0


def program(rotation: int, seconds: float | None) -> Program:
    """The long form (`hark.dev.real_speech.long_form`) starting `rotation` clips in; rotation
    0 is exactly the long form. Cut to `seconds` (whole utterances only are scored)."""
    from hark.dev.real_speech import LONG_FORM_GAPS, LONG_FORM_ORDER

    clips = _clips()
    order = LONG_FORM_ORDER[rotation % len(LONG_FORM_ORDER) :]
    order += LONG_FORM_ORDER[: rotation % len(LONG_FORM_ORDER)]
    parts, utterances, texts, speech = [], [], [], []
    position = 0.0
    gaps = itertools.cycle(LONG_FORM_GAPS)
    for index, name in enumerate(order):
        if index:
            gap = np.zeros(round(next(gaps) * RATE), np.float32)
            parts.append(gap)
            position += gap.size / RATE
        clip = clips[name]
        parts.append(clip.audio)
        utterances.append((position, position + clip.duration))
        onset, end = _speech_span(name)
        speech.append((position + onset, position + end))
        texts.append(clip.reference)
        position += clip.duration
    audio = np.concatenate(parts)
    if seconds is not None and seconds < position:
        audio = audio[: round(seconds * RATE)]
        speech = speech[: len([u for u in utterances if u[1] <= seconds])]
        utterances = utterances[: len(speech)]
    return Program(audio, utterances, " ".join(texts), speech)


@functools.cache
def _speech_span(name: str) -> tuple[float, float]:
    """Where a clip's speech begins and ends (Silero, threshold 0.5): latencies count from
    there, not from the clip's edges (the "sample" clip opens with 6.8 s of silence, "jfk"
    ends with 0.5 s of it)."""
    from hark.vad import FRAME_SECONDS, speech_probabilities

    frames = np.flatnonzero(speech_probabilities(_clips()[name].audio) >= 0.5)
    return float(frames[0] * FRAME_SECONDS), float((frames[-1] + 1) * FRAME_SECONDS)


@functools.cache
def _clips() -> dict[str, Clip]:
    from hark.dev.real_speech import reference_clips

    return {clip.name: clip for clip in reference_clips(AUDIO)}


def pcm16(samples: np.ndarray) -> bytes:
    return (np.clip(samples, -1, 1) * 32767).astype("<i2").tobytes()


def wav(samples: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(RATE)
        out.writeframes(pcm16(samples))
    return buffer.getvalue()


# ------------------------------------------------------------------------------ server


@contextlib.contextmanager
def server(
    device: str, max_streams: int, threads: int, extra: dict[str, str] | None = None
) -> Iterator[str]:
    """`hark serve` with the real Whisper base on a free loopback port, until exit."""
    with server_process(device, max_streams, threads, extra) as (url, _):
        yield url


@contextlib.contextmanager
def server_process(
    device: str,
    max_streams: int,
    threads: int,
    extra: dict[str, str] | None = None,
    model: Path | None = None,
) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """`server()`, also yielding the server's process (its PID: memory is read from /proc);
    `model` replaces the real Whisper base."""
    from hark.dev.real_whisper import real_whisper_base

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("HARK_")},
        "HARK_MODEL": str(model or real_whisper_base()),
        "HARK_DEVICE": device,
        "HARK_COMPUTE_TYPE": "int8" if device == "cpu" else "float16",
        "HARK_CPU_THREADS": str(threads),
        "HARK_LOCAL_FILES_ONLY": "true",
        "HARK_LOG_LEVEL": "warning",
        "HARK_LIVE_MAX_STREAMS": str(max_streams),
        "OMP_NUM_THREADS": str(threads),
        "PYTHONPATH": str(ROOT / "src"),
        **(extra or {}),
    }
    log = Path(tempfile.mkdtemp(prefix="hark-bench-stream-")) / "server.log"
    command = [sys.executable, "-m", "hark.cli", "serve", "--host", "127.0.0.1"]
    with log.open("wb") as out:
        process = subprocess.Popen(
            [*command, "--port", str(port)], env=env, stdout=out, stderr=subprocess.STDOUT
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 300
        while True:
            if process.poll() is not None:
                raise SystemExit(f"server exited:\n{log.read_text()}")
            with contextlib.suppress(httpx.HTTPError):
                ready = httpx.get(f"{url}/ready", timeout=2)
                if ready.status_code == 200:
                    live = ready.json().get("live", {})
                    took = live.get("encode_30s_seconds")
                    timed = f" (a 30 s encoding took {took:.2f} s)" if took is not None else ""
                    print(
                        f"server: live finals' input {live.get('final_input')}{timed}",
                        file=sys.stderr,
                    )
                    break
            if time.monotonic() > deadline:
                raise SystemExit(f"server not ready:\n{log.read_text()}")
            time.sleep(0.5)
        print(f"server: {url} ({device}, log {log})", file=sys.stderr)
        yield url, process
    finally:
        process.terminate()
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()


# ------------------------------------------------------------------------------ one stream


@dataclass
class StreamResult:
    partial_latency: list[float] = field(default_factory=list)
    final_latency: list[float] = field(default_factory=list)  # after a pause
    gap_final_latency: list[float] = field(default_factory=list)  # at a 0.3 s gap
    lag: list[tuple[float, float]] = field(default_factory=list)  # (audio time sent, lag)
    text: str = ""
    refused: bool = False
    error: str = ""
    ended: bool = False
    send_drift: float = 0.0  # how late this process sent its last chunk (its own slowness)
    events: list[dict] = field(default_factory=list)  # every event as received (--events)


async def play(url: str, prog: Program, language: str, drain: float) -> StreamResult:
    from hark.client_live import AsyncLiveClient, Final, LiveError, Partial
    from hark.client_live import Lag as LagEvent

    result = StreamResult()
    pcm = pcm16(prog.audio)
    step = int(RATE * CHUNK_S) * 2
    onsets = {i: start for i, (start, _) in enumerate(prog.speech)}
    ends = {i: end for i, (_, end) in enumerate(prog.utterances)}
    started = 0.0
    sender: asyncio.Task[None] | None = None

    def heard() -> float:  # seconds of audio whose sending time has come
        return time.monotonic() - started

    try:
        async with AsyncLiveClient(url).listen(language=language) as live:
            started = time.monotonic()

            async def send() -> None:
                for index, offset in enumerate(range(0, len(pcm), step)):
                    delay = started + index * CHUNK_S - time.monotonic()
                    if delay > 0:
                        await asyncio.sleep(delay)
                    await live.send(pcm[offset : offset + step])
                result.send_drift = heard() - len(pcm) / 2 / RATE
                await live.end()
                # A server far behind would keep this level running for minutes: give up
                # after `drain` s (the stream then counts as not ended, real time not held).
                await asyncio.sleep(drain)
                await live.close()

            sender = asyncio.create_task(send())
            # Whichever side fails first (a close while sending or while reading), the other
            # is stopped and its error is the stream's.
            sender.add_done_callback(lambda task: task.cancelled() or task.exception())
            finals: list[str] = []
            timed: list[tuple[float, float, float]] = []  # (received, start, end) of finals
            async for event in live:
                now = heard()
                result.events.append({"received": round(now, 3), **event.raw})
                if isinstance(event, Partial | Final):
                    text = event.text.strip()
                    end = event.end if event.end is not None else now
                    start = event.start if event.start is not None else end
                    if text:
                        for i in [i for i, t in onsets.items() if t <= now and end > t + 0.1]:
                            if start <= ends[i]:
                                result.partial_latency.append(now - onsets.pop(i))
                if isinstance(event, Final):
                    finals.append(event.text.strip())
                    timed.append((now, event.start, event.end))
                elif isinstance(event, LagEvent):
                    result.lag.append((now, event.seconds))
            sender.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await sender
            for paused, latency in final_latencies(prog, timed):
                (result.final_latency if paused else result.gap_final_latency).append(latency)
            result.ended = live.done is not None
            result.text = " ".join(finals)
            if live.transcript and live.transcript.get("text"):
                result.text = str(live.transcript["text"])
    except LiveError as exc:
        result.refused = exc.retry_later
        result.error = str(exc)
    finally:
        if sender is not None and not sender.done():
            sender.cancel()
    return result


def final_latencies(
    prog: Program, timed: list[tuple[float, float, float]]
) -> list[tuple[bool, float]]:
    """(followed by a pause, latency) per utterance that got a final: its final is the last of
    the finals that begin inside it (its last words), counted from where its speech ends. Not
    "the first final reaching the end": a clip's trailing silence would push that to the next
    utterance's final. `timed`: (received, start, end) of each final."""
    out = []
    for i, (onset, end) in enumerate(prog.utterances):
        following = prog.utterances[i + 1][0] if i + 1 < len(prog.utterances) else float("inf")
        mine = [(t, e) for t, s, e in timed if onset - 0.5 <= s < min(end, following - 0.1)]
        if mine:
            received = max(mine, key=lambda m: (m[1], m[0]))[0]
            out.append((prog.paused(i), max(0.0, received - prog.speech[i][1])))
    return out


# ------------------------------------------------------------------------------ levels


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(values, q)) if values else float("nan")


def slope(points: list[tuple[float, float]]) -> float:
    if len(points) < 3:
        return float("nan")
    t, y = np.array(points).T
    return float(np.polyfit(t, y, 1)[0])


async def level(
    url: str,
    streams: int,
    seconds: float | None,
    language: str,
    drain: float,
    events: Path | None = None,
) -> dict:
    programs = [program(k, seconds) for k in range(streams)]
    results = await asyncio.gather(*(play(url, p, language, drain) for p in programs))
    if events is not None:
        events.mkdir(parents=True, exist_ok=True)
        for k, (prog, r) in enumerate(zip(programs, results, strict=True)):
            dump = {"utterances": prog.utterances, "speech": prog.speech, "events": r.events}
            (events / f"level{streams}-stream{k}.json").write_text(json.dumps(dump, indent=1))
    partial = [v for r in results for v in r.partial_latency]
    final = [v for r in results for v in r.final_latency]
    gap_final = [v for r in results for v in r.gap_final_latency]
    lag = [p for r in results for p in r.lag]
    duration = max(p.audio.size / RATE for p in programs)
    last_third = [v for t, v in lag if t >= duration * 2 / 3]
    lag_end = statistics.fmean(last_third) if last_third else float("nan")
    lag_slope = slope(lag)
    ended = all(r.ended for r in results)
    held = ended and lag_slope < 0.02 and lag_end < 2.0
    bins: dict[int, list[float]] = {}
    for t, v in lag:
        bins.setdefault(int(t // 20), []).append(v)
    return {
        "lag_bins": [statistics.fmean(bins[k]) for k in sorted(bins)],
        "streams": streams,
        "partial": (percentile(partial, 50), percentile(partial, 95), len(partial)),
        "final": (percentile(final, 50), percentile(final, 95), len(final)),
        "gap_final": (percentile(gap_final, 50), percentile(gap_final, 95), len(gap_final)),
        "lag_end": lag_end,
        "lag_max": max((v for _, v in lag), default=float("nan")),
        "lag_slope": lag_slope,
        "held": held,
        "refused": sum(r.refused for r in results),
        "errors": [r.error for r in results if r.error and not r.refused],
        "drift": max(r.send_drift for r in results),
        "text": results[0].text,
        "reference": programs[0].reference,
        "duration": duration,
    }


def decode_totals(url: str) -> dict[str, tuple[float, float]]:
    """The server's hark_live_decode_seconds (sum, count) by kind, from /metrics; empty when
    it cannot be read (a server before the metric, or one that wants a key for it)."""
    from prometheus_client.parser import text_string_to_metric_families

    try:
        response = httpx.get(f"{url}/metrics", timeout=10)
        response.raise_for_status()
    except httpx.HTTPError:
        return {}
    totals: dict[str, list[float]] = {}
    for family in text_string_to_metric_families(response.text):
        if family.name != "hark_live_decode_seconds":
            continue
        for sample in family.samples:
            kind = sample.labels.get("kind", "")
            if sample.name.endswith("_sum"):
                totals.setdefault(kind, [0.0, 0.0])[0] = sample.value
            elif sample.name.endswith("_count"):
                totals.setdefault(kind, [0.0, 0.0])[1] = sample.value
    return {kind: (v[0], v[1]) for kind, v in totals.items()}


def decode_means(
    before: dict[str, tuple[float, float]], after: dict[str, tuple[float, float]]
) -> dict[str, tuple[float, int]]:
    """Mean seconds and count of the decodes of each kind made between two readings."""
    out = {}
    for kind, (total, count) in after.items():
        total0, count0 = before.get(kind, (0.0, 0.0))
        if count > count0:
            out[kind] = ((total - total0) / (count - count0), int(count - count0))
    return out


def offline_text(url: str, language: str) -> tuple[str, float]:
    prog = program(0, None)
    started = time.perf_counter()
    response = httpx.post(
        f"{url}/asr",
        params={"language": language, "output": "json"},
        files={"file": ("long.wav", wav(prog.audio), "audio/wav")},
        timeout=1800,
    )
    response.raise_for_status()
    text = " ".join(segment["text"].strip() for segment in response.json()["segments"])
    return text, time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    parser.add_argument("--streams", default=None, help="levels, e.g. 1,2,4,8")
    parser.add_argument(
        "--seconds",
        type=float,
        default=None,
        help="play this much of the long form with one stream (default: all of it, ~126 s)",
    )
    parser.add_argument(
        "--level-seconds",
        type=float,
        default=60.0,
        help="play this much at the levels above one stream (0: all of it)",
    )
    parser.add_argument("--drain", type=float, default=60.0, help="wait for done at most, s")
    parser.add_argument("--language", default="en")
    parser.add_argument("--threads", type=int, default=THREADS, help="server CPU threads")
    parser.add_argument("--url", default=None, help="use a running server instead")
    parser.add_argument(
        "--server-env",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a setting for the server, e.g. HARK_LIVE_STEP_S=2 (repeatable)",
    )
    parser.add_argument("--no-wer", action="store_true", help="skip the offline WER request")
    parser.add_argument(
        "--events",
        type=Path,
        default=None,
        metavar="DIR",
        help="write each stream's events (with the time received) and utterances as JSON here",
    )
    args = parser.parse_args()
    default = "1,2,4,8" if args.device == "cpu" else "1,4,16,32,64"
    levels = [int(n) for n in (args.streams or default).split(",")]

    with contextlib.ExitStack() as stack:
        extra = dict(item.split("=", 1) for item in args.server_env)
        url = args.url or stack.enter_context(server(args.device, max(levels), args.threads, extra))
        rows = []
        for n in levels:
            started = time.perf_counter()
            seconds = args.seconds if n == 1 else (args.level_seconds or None)
            before = decode_totals(url)
            row = asyncio.run(level(url, n, seconds, args.language, args.drain, args.events))
            row["wall"] = time.perf_counter() - started
            row["decodes"] = decode_means(before, decode_totals(url))
            rows.append(row)
            print(f"{n} streams done in {row['wall']:.0f} s", file=sys.stderr)
        report_levels(rows, levels, args)
        offline = None if args.no_wer else offline_text(url, args.language)
    report_wer(rows, offline, args)


def report_levels(rows: list[dict], levels: list[int], args: argparse.Namespace) -> None:
    settings = " ".join(args.server_env) or "live defaults"
    print(f"\n{args.device}, {args.threads} threads, 100 ms messages, language {args.language}")
    print(f"server: {settings}\n")
    print(
        "| streams | audio s | first partial p50 / p95 s (n) | final after a pause p50 / p95 s (n)"
        " | final at a 0.3 s gap p50 / p95 s (n) | lag, last third s | lag max s"
        " | lag slope s/s | real time held | refused | errors |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        p50, p95, pn = r["partial"]
        f50, f95, fn = r["final"]
        g50, g95, gn = r["gap_final"]
        print(
            f"| {r['streams']} | {r['duration']:.0f} | {p50:.2f} / {p95:.2f} ({pn}) | "
            f"{f50:.2f} / {f95:.2f} ({fn}) | {g50:.2f} / {g95:.2f} ({gn}) | "
            f"{r['lag_end']:.2f} | {r['lag_max']:.2f} | {r['lag_slope']:+.3f} | "
            f"{'yes' if r['held'] else 'no'} | {r['refused']} | {len(r['errors'])} |"
        )
    print("\nlag over time (mean lag in each 20 s of the run, all streams):")
    for r in rows:
        print(f"  {r['streams']} streams: {' '.join(f'{v:.1f}' for v in r['lag_bins'])}")
    print("\nlive decodes (the server's hark_live_decode_seconds; queueing included):")
    for r in rows:
        means = " ".join(
            f"{kind} {mean:.2f} s (n {n})" for kind, (mean, n) in sorted(r["decodes"].items())
        )
        print(f"  {r['streams']} streams: {means or 'not reported'}")
    held = [r["streams"] for r in rows if r["held"]]
    print(f"\nmost streams held at real time: {max(held) if held else 'none'} of {levels}")
    drift = max(r["drift"] for r in rows)
    print(f"benchmark's own send drift (largest): {drift:.2f} s")
    for r in rows:
        for error in r["errors"][:3]:
            print(f"error at {r['streams']} streams: {error}")


def report_wer(
    rows: list[dict], offline: tuple[str, float] | None, args: argparse.Namespace
) -> None:
    from hark.dev.accuracy import align_words, normalize_words

    first = next((r for r in rows if r["streams"] == 1), None)
    if first is not None and offline is not None and args.seconds is None:
        ref = normalize_words(first["reference"])
        live = align_words(ref, normalize_words(first["text"]))
        off = align_words(ref, normalize_words(offline[0]))
        print(
            f"\nWER on the long form ({len(ref)} words): streaming {100 * live.rate:.1f}% "
            f"(S{live.substitutions} D{live.deletions} I{live.insertions}), offline /asr "
            f"{100 * off.rate:.1f}% (S{off.substitutions} D{off.deletions} I{off.insertions}), "
            f"difference {100 * (live.rate - off.rate):+.1f} points; "
            f"offline took {offline[1]:.1f} s"
        )


if __name__ == "__main__":
    main()
