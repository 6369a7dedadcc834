"""int8 vs float32 for Whisper on CPU: speed and word error rate with the real Whisper base.

    python bench/compute_type.py --model DIR [--rounds 3]

DIR is the real Whisper base assembled as ../shared/notes/real-whisper-base.md says. Both
pipelines are loaded in this process and run alternately (the order flips every round), on the
shared clips with a reference plus their concatenation with gaps of 0.3/2/6 s. Wall time and
process CPU time are reported per round; the CPU time is the steadier figure on a busy machine.
"""

from __future__ import annotations

import argparse
import re
import time
from pathlib import Path

import numpy as np

import hark
from hark.audio import load_audio

SHARED = Path(__file__).resolve().parents[2] / "shared" / "audio"
JFK = (
    "And so my fellow Americans, ask not what your country can do for you, "
    "ask what you can do for your country."
)


def words(text: str) -> list[str]:
    return re.sub(r"[^a-z0-9' ]+", " ", text.lower().replace("-", " ")).split()


def edit_distance(ref: list[str], hyp: list[str]) -> int:
    row = list(range(len(hyp) + 1))
    for i, r in enumerate(ref, 1):
        diagonal, row[0] = row[0], i
        for j, h in enumerate(hyp, 1):
            diagonal, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, diagonal + (r != h))
    return row[-1]


def clips() -> dict[str, tuple[np.ndarray, str]]:
    refs = {"jfk.flac": JFK}
    for line in (SHARED / "librispeech/1089-134686.trans.txt").read_text().splitlines():
        key, text = line.split(" ", 1)
        refs[f"librispeech/{key}.flac"] = text
    stm = (SHARED / "pyannote/sample.stm").read_text().splitlines()
    refs["pyannote/sample.wav"] = " ".join(line.split(" ", 5)[5] for line in stm if line.strip())
    out = {name: (load_audio(SHARED / name), ref) for name, ref in refs.items()}
    joined: list[np.ndarray] = []
    for gap, (audio, _) in zip([0.3, 2.0, 6.0, 0.3], out.values(), strict=True):
        joined += [audio, np.zeros(int(gap * 16000), np.float32)]
    out["long (joined, gaps 0.3/2/6 s)"] = (
        np.concatenate(joined),
        " ".join(ref for _, ref in out.values()),
    )
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", required=True, help="the real Whisper base directory")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    data = clips()
    seconds = sum(len(a) for a, _ in data.values()) / 16000
    types = ("int8", "float32")
    pipes = {t: hark.load_pipeline(args.model, device="cpu", compute_type=t) for t in types}
    print(f"{len(data)} clips, {seconds:.0f} s of audio per round")
    wall: dict[str, list[float]] = {t: [] for t in types}
    cpu: dict[str, list[float]] = {t: [] for t in types}
    errors: dict[str, dict[str, float]] = {t: {} for t in types}
    for rnd in range(args.rounds):
        for t in types if rnd % 2 == 0 else types[::-1]:
            w0, c0 = time.perf_counter(), time.process_time()
            total_err = total_words = 0
            for name, (audio, ref) in data.items():
                got = pipes[t].transcribe(audio, language="en")
                hyp = words(" ".join(s.text for s in got.segments))
                err = edit_distance(words(ref), hyp)
                errors[t][name] = 100 * err / len(words(ref))
                total_err += err
                total_words += len(words(ref))
            errors[t]["all"] = 100 * total_err / total_words
            wall[t].append(time.perf_counter() - w0)
            cpu[t].append(time.process_time() - c0)
        print(
            f"round {rnd}: "
            + ", ".join(f"{t} {wall[t][-1]:.1f} s wall / {cpu[t][-1]:.1f} s CPU" for t in types)
        )
    for t in types:
        print(f"{t}: WER " + ", ".join(f"{k} {v:.1f}%" for k, v in errors[t].items()))
    for label, times in (("wall", wall), ("CPU", cpu)):
        ratios = [f / i for i, f in zip(times["int8"], times["float32"], strict=True)]
        print(f"float32 / int8 {label}:", ", ".join(f"{r:.2f}" for r in ratios))


if __name__ == "__main__":
    main()
