"""VAD benchmark: Hark's batched Silero session vs faster-whisper's `get_speech_timestamps`.

Same process, same audio (the shared speech tiled to `--minutes`), both warmed up, runs
alternating; the table gives each pair's ratio (faster-whisper time / Hark time) and the
spread, since the machine is shared. Hark's side is the whole VAD step a request pays:
probabilities (`hark.silero`) and regions/chunks (`hark.vad.detect_speech`).

Agreement, on 10 ms frames, between Hark's probabilities and faster-whisper's sequential ones,
both put through the same rules: Hark's (`detect_speech`) and faster-whisper's own
(`get_speech_timestamps` defaults, its model swapped for Hark's probabilities).

    .venv/bin/python bench/vad.py                    # 10 min, 2 threads, 5 pairs
    .venv/bin/python bench/vad.py --threads 1 --minutes 30 --device cuda
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path
from unittest import mock

import numpy as np

from hark.dev.real_speech import shared_speech

ROOT = Path(__file__).resolve().parents[1]
AUDIO = ROOT.parent / "shared" / "audio"
RATE = 16000


def speech(minutes: float) -> np.ndarray:
    return shared_speech(AUDIO, minutes * 60)


def mask_from_spans(spans: list[tuple[float, float]], seconds: float) -> np.ndarray:
    """10 ms frames inside any (start, end) span in seconds."""
    mask = np.zeros(int(seconds * 100) + 1, dtype=bool)
    for start, end in spans:
        mask[round(start * 100) : round(end * 100)] = True
    return mask


def hark_rule_mask(audio: np.ndarray, probs: np.ndarray) -> np.ndarray:
    from hark.vad import VadOptions, detect_speech

    chunks = detect_speech(audio, VadOptions(), probs)
    return mask_from_spans([r for c in chunks for r in c.regions], audio.size / RATE)


def fw_rule_mask(audio: np.ndarray, probs: np.ndarray | None) -> np.ndarray:
    """faster-whisper's rules on its own model (None) or on the given probabilities."""
    from faster_whisper import vad as fw_vad

    if probs is None:
        spans = fw_vad.get_speech_timestamps(audio)
    else:
        padded_frames = (audio.size + 512 - audio.size % 512) // 512

        def model(_: np.ndarray) -> np.ndarray:
            out = np.zeros(padded_frames, dtype=np.float32)
            out[: probs.size] = probs
            return out

        with mock.patch.object(fw_vad, "get_vad_model", return_value=model):
            spans = fw_vad.get_speech_timestamps(audio)
    seconds = [(s["start"] / RATE, s["end"] / RATE) for s in spans]
    return mask_from_spans(seconds, audio.size / RATE)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--threads", type=int, default=2, help="Hark's VAD threads")
    parser.add_argument("--pairs", type=int, default=5)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--segment-seconds", type=float, default=None)
    parser.add_argument("--warmup-seconds", type=float, default=None)
    args = parser.parse_args()

    from faster_whisper.vad import get_speech_timestamps, get_vad_model

    from hark.silero import SileroConfig, SileroVad
    from hark.vad import VadOptions, detect_speech, speech_probabilities

    overrides = {
        k: v
        for k, v in (
            ("segment_seconds", args.segment_seconds),
            ("warmup_seconds", args.warmup_seconds),
        )
        if v is not None
    }
    config = SileroConfig(threads=args.threads, **overrides)
    vad = SileroVad(config, device=args.device)
    audio = speech(args.minutes)
    get_speech_timestamps(audio[: 5 * RATE])  # create both sessions before timing
    vad(audio[: 5 * RATE])

    def run_fw() -> None:
        get_speech_timestamps(audio)

    def run_hark() -> None:
        detect_speech(audio, VadOptions(), speech_probabilities(audio, vad))

    fw_times, hark_times = [], []
    for i in range(args.pairs):
        order = [(run_fw, fw_times), (run_hark, hark_times)]
        for fn, times in order if i % 2 == 0 else order[::-1]:
            started = time.perf_counter()
            fn()
            times.append(time.perf_counter() - started)
    ratios = [f / h for f, h in zip(fw_times, hark_times, strict=True)]

    padded = np.pad(audio, (0, 512 - audio.size % 512))
    reference = np.asarray(get_vad_model()(padded), np.float32).reshape(-1)[: -(-audio.size // 512)]
    probs = vad(audio)
    hark_rules = (hark_rule_mask(audio, probs) == hark_rule_mask(audio, reference)).mean()
    fw_rules = (fw_rule_mask(audio, probs) == fw_rule_mask(audio, None)).mean()
    frames = ((probs >= 0.5) == (reference >= 0.5)).mean()

    print(
        f"VAD on {args.minutes:g} min of the shared speech; Hark: {config.threads} thread(s), "
        f"{args.device} ({', '.join(vad.providers)}), segments {config.segment_seconds:g} s, "
        f"warm-up {config.warmup_seconds:g} s; faster-whisper: its one-thread session\n"
    )
    print("| pair | faster-whisper | Hark | fw / Hark |")
    print("|---:|---:|---:|---:|")
    for i, (f, h, r) in enumerate(zip(fw_times, hark_times, ratios, strict=True)):
        print(f"| {i + 1} | {f:.3f} s | {h:.3f} s | {r:.2f}x |")
    print(
        f"\nratio: median {statistics.median(ratios):.2f}x, min {min(ratios):.2f}x, "
        f"max {max(ratios):.2f}x; realtime factor (Hark, median): "
        f"{args.minutes * 60 / statistics.median(hark_times):.0f}x"
    )
    print(
        f"agreement on 10 ms frames: Hark's rules {hark_rules:.2%}, faster-whisper's rules "
        f"{fw_rules:.2%}; 32 ms frames with p >= 0.5 on both sides: {frames:.2%}; "
        f"mean |dp| {np.abs(probs - reference).mean():.4f}"
    )


if __name__ == "__main__":
    main()
