"""Real-model benchmark: word error rate and speed with a real Whisper base, CPU int8.

Systems, all on the same CTranslate2 model (`hark.dev.real_whisper.real_whisper_base`, the
OpenAI base weights), int8, 2 CPU threads, same 16 kHz samples, each with its own defaults:

- `hark`: `Pipeline.transcribe` defaults (VAD, batch 8, beam 5, language detected, word times
  on, alignment on: the default English aligner has no weights on these machines, so Hark
  keeps Whisper's word times, as it does for any language without an aligner);
- `hark, no alignment`: `align=False` (Whisper's word times, no aligner lookup);
- `hark, no word times`: `word_timestamps=False`;
- `hark, CTC alignment`: `align_model=` a base-shaped wav2vec2 CTC with random weights (12 x
  768, the real architecture and cost; its times are meaningless, the words cannot change);
- `fw batched`: faster-whisper's `BatchedInferencePipeline.transcribe` defaults (batch 8, VAD,
  no word times);
- `fw sequential`: faster-whisper's `WhisperModel.transcribe` defaults (no VAD, previous text
  as prompt, no word times).

Audio: `jfk.flac`, the two LibriSpeech utterances, `pyannote/sample.wav` (against
`sample.stm`) and the 126-s long form of `hark.dev.real_speech` (the clips twice, gaps of
0.3/2/6 s). WER over all of them (errors / reference words) with `hark.dev.accuracy`.

Speed: the models are loaded first, then every round runs every system on all the audio,
systems alternating, in one process; the table shows the best round and the ratio to `hark`
within each round (the machine is shared: read the ratios, not the seconds).

    .venv/bin/python bench/real_asr.py --rounds 2
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Callable
from pathlib import Path

THREADS = 2
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, str(THREADS))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HARK_OFFLINE", "1")

ROOT = Path(__file__).resolve().parents[1]
AUDIO = ROOT.parent / "shared" / "audio"
ALIGNER_DIR = ROOT / ".cache" / "bench" / "wav2vec2-align-base"

Transcribe = Callable[["np.ndarray"], str]  # noqa: F821


def systems(model: Path) -> dict[str, Transcribe]:
    from faster_whisper import BatchedInferencePipeline, WhisperModel

    import hark
    from hark.dev.fixtures.aligner import build_test_aligner_base

    if not (ALIGNER_DIR / "model.onnx").is_file():
        ALIGNER_DIR.mkdir(parents=True, exist_ok=True)
        build_test_aligner_base(ALIGNER_DIR)
    pipeline = hark.load_engine(model, device="cpu", compute_type="int8", cpu_threads=THREADS)
    fw = WhisperModel(str(model), device="cpu", compute_type="int8", cpu_threads=THREADS)
    batched = BatchedInferencePipeline(fw)

    def hark_with(**options: object) -> Transcribe:
        return lambda audio: pipeline.transcribe(audio, **options).text

    def fw_text(segments: object) -> str:
        return " ".join(s.text.strip() for s in segments)  # type: ignore[attr-defined]

    return {
        "hark": hark_with(),
        "hark, no alignment": hark_with(align=False),
        "hark, no word times": hark_with(word_timestamps=False),
        "hark, CTC alignment": hark_with(align_model=str(ALIGNER_DIR)),
        "fw batched": lambda audio: fw_text(batched.transcribe(audio, batch_size=8)[0]),
        "fw sequential": lambda audio: fw_text(fw.transcribe(audio)[0]),
    }


def main() -> None:
    import logging

    from hark.dev.accuracy import align_words, normalize_words
    from hark.dev.real_speech import long_form, reference_clips
    from hark.dev.real_whisper import real_whisper_base

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    logging.disable(logging.WARNING)  # the missing-aligner notice, once per call

    clips = reference_clips(AUDIO)
    clips.append(long_form(clips))
    audio_seconds = sum(c.duration for c in clips)
    runners = systems(real_whisper_base())
    for run in runners.values():  # warm-up: first-call costs (aligner load, allocations)
        run(clips[0].audio)

    times: dict[str, list[float]] = {name: [] for name in runners}
    texts: dict[str, list[str]] = {}
    for _ in range(args.rounds):
        for name, run in runners.items():
            started = time.perf_counter()
            texts[name] = [run(clip.audio) for clip in clips]
            times[name].append(time.perf_counter() - started)

    print(f"{audio_seconds:.0f} s of audio, {args.rounds} rounds, {THREADS} threads, CPU int8\n")
    names = [c.name for c in clips]
    print("| system | WER all | " + " | ".join(names) + " | best s | x realtime | / hark |")
    print("|---" * (len(names) + 5) + "|")
    for name in runners:
        errors = words = 0
        per_clip = []
        for clip, text in zip(clips, texts[name], strict=True):
            result = align_words(normalize_words(clip.reference), normalize_words(text))
            errors, words = errors + result.errors, words + result.reference_words
            per_clip.append(f"{100 * result.rate:.1f}")
        best = min(times[name])
        ratios = "/".join(
            f"{mine / base:.2f}" for mine, base in zip(times[name], times["hark"], strict=True)
        )
        print(
            f"| {name} | {100 * errors / words:.1f} | {' | '.join(per_clip)} | {best:.1f} | "
            f"{audio_seconds / best:.1f} | {ratios} |"
        )


if __name__ == "__main__":
    main()
