"""Live sessions replayed without a clock: decode counts, window seconds, streaming WER, and
latencies on a virtual clock.

A `LiveSession` is fed the shared long form (`hark.dev.real_speech`: the reference clips with
0.3/2/6 s gaps, 126 s) in 100 ms blocks through `engine_decoder` on the real Whisper base
(CPU int8, 2 threads, language en, beam 1, temperature 0 only), as the server feeds it, and
nothing here reads a clock to decide anything, so two runs of one configuration make the
same decodes and words whatever the machine's load (`--cost cpu` excepted). With the
temperature fallback on (`fallback=1`) they do not: CTranslate2's sampling generator is per
thread and seeded once, so what ran before on the scheduler's thread changes the samples.

- counts: decodes and window seconds (audio decoded) per second of audio, and the encoder
  seconds (every window is encoded as a 30 s input, unless `pad=` shortens it);
- streaming WER of the finals against the references, and the same engine's offline
  `transcribe` (beam 1 and beam 5) on the same audio, scored with `hark.dev.accuracy`;
- a virtual clock (`--cost A,B,C`): each decode costs A + B x window seconds + C x encoder
  seconds of virtual time; `--cost wall`: the decode's wall time (on a quiet machine, what a
  real server's decode takes); `--cost cpu`: the decode's own process CPU time divided by the
  model's 2 threads (what it would take on 2 idle cores; load changes it far less than it
  changes wall time);
  audio arrives at real-time pace on that clock and the session is fed, as the server's inbox
  does, everything that arrived while it decoded, in one block. Final latency, as
  bench/stream.py counts it: virtual time of each utterance's last final minus the utterance's
  end (`stream.final_latencies`); and as the server's histogram does: a pause's final minus the
  pause's start (includes the 0.5 s of silence); lag = audio arrived but not decoded. With
  A, B measured on a machine this says whether real time holds there and what one stream's
  final p95 is, without timing noise. `--cost 0,0` is the timing-free feed
  (every 100 ms block on its own).

Configurations are `name:key=value,...` with `SessionOptions` fields (`step_s`,
`max_buffer_s`, `context_s`, `prompt_chars`, `prompt_finals`, ...), `agreement` and `commit`
for the policy, `beam` (beam size), `final_beam` (beam of the decodes that make finals:
pauses, the cap, the end), `fallback` (1: the files' temperature fallback; default 0,
temperature 0 only, as the server's live streams), `pad` (encoder padding, s, or `none` for
30 s inputs), `step_pad` (the same for the step decodes only; finals keep `pad` when they
have a pass of their own) and `final_input` (`full`: the decodes that make finals take 30 s
inputs and no prompt, as `HARK_LIVE_FINAL_INPUT=full`; default `short`, a CPU server's). What a
configuration does not name is the server's default (`commit`, `beam` and `final_beam` from
`hark.settings`, `pad` from `hark.live.windows`, the rest from `SessionOptions`). All run
in one process on one loaded model, so their counts and WERs compare side by side.

    .venv/bin/python bench/live_replay.py --config default: --config step2:step_s=2
    .venv/bin/python bench/live_replay.py --cost 0.2,0.03,0.02 --config a: --config b:pad=3
    .venv/bin/python bench/live_replay.py --no-offline --config a: --config b:... \
        --cost 0.1,0.04,0.03 --cost 0.2,0.06,0.03 --cost 0.3,0.06,0.03 \
        --cost 0.3,0.08,0.03 --cost 0.2,0.08,0.03
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

THREADS = 2
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, str(THREADS))

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from stream import Program, program  # noqa: E402  (bench/stream.py: the long form, its clips)
from stream import final_latencies as stream_final_latencies  # noqa: E402

if TYPE_CHECKING:
    from hark.dev.accuracy import WordErrors

RATE = 16_000
BLOCK_S = 0.1


@dataclass
class Run:
    name: str
    decodes: int = 0
    window_s: float = 0.0
    encoder_s: float = 0.0  # encoder input seconds (30 per window unless padded shorter)
    decode_wall_s: float = 0.0
    decode_cpu_s: float = 0.0  # process CPU time during decodes (all threads)
    text: str = ""
    finals: list[tuple[float, float, float]] = field(default_factory=list)  # (at, start, end)
    pause_latency: list[float] = field(default_factory=list)  # pause start -> its final
    lags: list[float] = field(default_factory=list)
    wall_s: float = 0.0


@dataclass(frozen=True)
class Config:
    name: str
    options: object  # SessionOptions
    beam: int = 1  # the decoder's beam size (the server's HARK_LIVE_BEAM_SIZE)
    fallback: bool = False  # the temperature fallback (off: temperature 0 only, as the server)
    final_beam: int = 1  # beam of the decodes that make finals (a second pass when wider)
    pad: float | str | None = "default"  # encoder padding (s); None: 30 s inputs
    step_pad: float | str | None = "default"  # the step decodes' padding ("default": `pad`)
    final_input: str = "short"  # "full": finals decoded with 30 s inputs, no prompt


def parse_pad(given: str) -> float | str | None:
    """An encoder padding in seconds, "none" (30 s inputs) or "default"."""
    return given if given == "default" else None if given == "none" else float(given)


def parse_config(spec: str) -> Config:
    from hark.live.policy import PolicyOptions
    from hark.live.session import SessionOptions
    from hark.settings import Settings

    name, _, rest = spec.partition(":")
    values: dict[str, str] = {}
    for item in filter(None, rest.split(",")):
        key, _, value = item.partition("=")
        values[key] = value
    # Unnamed values are the server's defaults (hark.settings).
    server = Settings.model_fields
    beam = int(values.pop("beam", server["live_beam_size"].default))
    fallback = values.pop("fallback", "0").lower() in ("1", "true")
    final_beam = int(values.pop("final_beam", server["live_final_beam_size"].default))
    pad, step_pad = (parse_pad(values.pop(key, "default")) for key in ("pad", "step_pad"))
    # As a CPU server ("auto" is "short" there).
    final_input = values.pop("final_input", "short")
    if final_input not in ("full", "short"):
        raise SystemExit(f"final_input is full or short, not {final_input!r}")
    if final_input == "full":
        values["prompt_finals"] = "0"
    policy: dict[str, object] = {k: int(values.pop(k)) for k in ("agreement",) if k in values}
    policy["commit"] = values.pop("commit", server["live_commit"].default)
    typed = {}
    for key, value in values.items():
        default = getattr(SessionOptions(), key)
        if value.lower() == "none":
            typed[key] = None
            continue
        if isinstance(default, bool):
            typed[key] = value.lower() in ("1", "true")
        else:  # options that default to None are seconds
            typed[key] = float(value) if default is None else type(default)(value)
    options = SessionOptions(**typed)  # type: ignore[arg-type]
    options = replace(options, policy=PolicyOptions(**policy))  # type: ignore[arg-type]
    return Config(
        name or "default",
        options,
        beam=beam,
        pad=pad,
        step_pad=step_pad,
        final_input=final_input,
        fallback=fallback,
        final_beam=final_beam,
    )


async def replay(
    engine, audio: np.ndarray, config: Config, cost: tuple[float, ...] | str | None
) -> Run:
    import ctranslate2

    from hark.asr import WhisperASR
    from hark.live.events import Final
    from hark.live.session import LiveSession
    from hark.live.windows import engine_decoder, second_pass
    from hark.options import TranscribeOptions
    from hark.vad import speech_probabilities

    # Only helps for the first run in a process (see the docstring: per-thread generators).
    ctranslate2.set_random_seed(0)
    run = Run(config.name)
    options = config.options
    import hark.live.windows

    # The tree's own default unless the config names one (a tree before the option has none).
    pad = (
        getattr(hark.live.windows, "ENCODER_PAD_S", None) if config.pad == "default" else config.pad
    )
    step_pad = pad if config.step_pad == "default" else config.step_pad
    full = config.final_input == "full"
    decoding = TranscribeOptions(
        language="en", beam_size=config.beam, **({} if config.fallback else {"temperature": [0.0]})
    )
    clock = [0.0]  # virtual seconds

    def counted(options, pad, **kwargs):
        inner = engine_decoder(engine, options, encoder_pad_s=pad, **kwargs)

        async def decoder(samples, prompt, language):
            return await measured(inner, pad, samples, prompt, language)

        return decoder

    async def measured(inner, pad, samples, prompt, language):
        run.decodes += 1
        run.window_s += samples.size / RATE
        before = run.encoder_s
        run.encoder_s += (
            30.0 if pad is None else WhisperASR.encoder_frames(samples.size / RATE, pad) / 100
        )
        started, cpu = time.perf_counter(), time.process_time()
        decoded = await inner(samples, prompt, language)
        run.decode_wall_s += time.perf_counter() - started
        spent = time.process_time() - cpu
        run.decode_cpu_s += spent
        encoded = run.encoder_s - before
        if cost == "wall":  # what it took (on a quiet machine: a real server's decode)
            clock[0] += time.perf_counter() - started
        elif cost is None:  # the decode's own CPU time, spread over the model's threads
            clock[0] += spent / THREADS
        else:
            clock[0] += cost[0] + cost[1] * samples.size / RATE + cost[2] * encoded
        return decoded

    final = None
    second = second_pass(decoding, config.final_beam, full, pad)  # as the server's
    if second is not None:
        final = counted(*second, priority="final")
    session = LiveSession(
        counted(decoding, step_pad),
        lambda samples: speech_probabilities(samples, engine.pipeline.vad),
        options,
        language="en",
        final_decoder=final,
    )
    block = round(BLOCK_S * RATE)
    fed = 0
    started = time.perf_counter()
    finals: list = []

    def emitted(events) -> None:
        for event in events:
            if isinstance(event, Final):
                finals.append(event.segment)
                run.finals.append((clock[0], event.segment.start, event.segment.end))
                if event.latency_from is not None:
                    run.pause_latency.append(clock[0] - event.latency_from)

    while fed < audio.size:
        # Everything whose block is complete at the virtual now, at least the next block.
        arrived = min(audio.size, max(fed + block, int(clock[0] / BLOCK_S + 1e-9) * block))
        clock[0] = max(clock[0], arrived / RATE)
        emitted(await session.feed(audio[fed:arrived], arrived / RATE))
        fed = arrived
        run.lags.append(max(0.0, clock[0] - session.time) + session.behind)
    emitted(await session.end())
    run.wall_s = time.perf_counter() - started
    run.text = " ".join(s.text for s in finals)
    return run


def final_latencies(run: Run, prog: Program) -> list[float]:
    """bench/stream.py's measure (each utterance's last final, from its end), all utterances."""
    return [latency for _, latency in stream_final_latencies(prog, run.finals)]


def p95(values: list[float]) -> float:
    return float(np.percentile(values, 95)) if values else float("nan")


def parse_cost(given: str) -> tuple[float, ...] | str | None:
    if given == "cpu":
        return None
    if given == "wall":
        return given
    return (*(float(x) for x in given.split(",")), 0.0, 0.0)[:3]


def summary(run: Run, errors: WordErrors, prog: Program) -> str:
    """One table row's measures (after config, cost and round)."""
    audio_s = prog.audio.size / RATE
    lat = final_latencies(run, prog)
    third = run.lags[len(run.lags) * 2 // 3 :] or [0.0]
    pause = run.pause_latency
    return (
        f"{run.decodes / audio_s:.3f} | {run.window_s / audio_s:.2f} | "
        f"{run.encoder_s / audio_s:.1f} | {100 * errors.rate:.1f} "
        f"({errors.substitutions}/{errors.deletions}/{errors.insertions}) | "
        f"{statistics.median(lat) if lat else float('nan'):.2f} / {p95(lat):.2f} | "
        f"{statistics.median(pause) if pause else float('nan'):.2f} / {p95(pause):.2f} | "
        f"{max(run.lags):.2f} / {statistics.fmean(third):.2f} | "
        f"{run.decode_wall_s / audio_s:.2f} | {run.decode_cpu_s / audio_s:.2f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", action="append", default=[], help="name:key=value,...")
    parser.add_argument(
        "--cost",
        action="append",
        help="virtual s per decode: A,B,C (A + B x win + C x encoder s), cpu (measured CPU "
        "time / threads) or wall (measured wall time: a quiet machine only); repeat it for "
        "an ensemble: every config runs under every cost, and each config's mean WER over "
        "them is printed last (where a decode starts moves with the cost, so one run's words "
        "are one draw; fixed costs make each draw reproducible). Default 0,0,0",
    )
    parser.add_argument("--rounds", type=int, default=1, help="configs alternate per round")
    parser.add_argument("--no-offline", action="store_true")
    parser.add_argument(
        "--errors", action="store_true", help="print each run's errors (reference -> heard)"
    )
    parser.add_argument("--seconds", type=float, default=None, help="cut the long form")
    args = parser.parse_args()

    from hark.dev.accuracy import align_words, error_spans, normalize_words
    from hark.dev.real_whisper import real_whisper_base
    from hark.engine import load_engine

    engine = load_engine(
        real_whisper_base(), device="cpu", compute_type="int8", cpu_threads=THREADS
    )
    prog = program(0, args.seconds)
    costs = [parse_cost(given) for given in args.cost or ["0,0,0"]]
    configs = [parse_config(s) for s in (args.config or ["default:"])]
    reference = normalize_words(prog.reference)
    print(f"long form {prog.audio.size / RATE:.1f} s, {len(reference)} words, costs {costs}")
    if not args.no_offline:
        for beam in (1, 5):
            started = time.perf_counter()
            offline = engine.transcribe(prog.audio, language="en", beam_size=beam)
            errors = align_words(reference, normalize_words(offline.text))
            print(
                f"offline beam {beam}: WER {100 * errors.rate:.1f} % (S{errors.substitutions} "
                f"D{errors.deletions} I{errors.insertions}), {time.perf_counter() - started:.1f} s"
            )
    print(
        "config | cost | round | decodes/s | window s/s | encoder s/s | WER % (S/D/I) | "
        "utterance final p50/p95 | pause final p50/p95 | lag max / last third | decode wall "
        "s/s (latencies and lag: virtual s) | decode CPU s/s"
    )
    wers: dict[str, list[float]] = {config.name: [] for config in configs}
    for round_ in range(1, args.rounds + 1):
        for cost in costs:
            for config in configs:
                run = asyncio.run(replay(engine, prog.audio, config, cost))
                heard = normalize_words(run.text)
                errors = align_words(reference, heard)
                wers[config.name].append(100 * errors.rate)
                print(
                    f"{config.name} | {cost} | {round_} | {summary(run, errors, prog)}", flush=True
                )
                if args.errors:
                    print("    errors: " + " | ".join(error_spans(reference, heard, errors)))
    if len(costs) * args.rounds > 1:
        for name, values in wers.items():
            print(
                f"{name}: mean WER {statistics.fmean(values):.2f} % over {len(values)} runs "
                f"({min(values):.1f}-{max(values):.1f})"
            )
    engine.close()


if __name__ == "__main__":
    main()
