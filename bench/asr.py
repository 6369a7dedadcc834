"""ASR benchmark: Hark vs faster-whisper's BatchedInferencePipeline, side by side in one run.

Same CTranslate2 model, same audio, same decoding: greedy, batch 8, end-of-text suppressed and
a fixed number of new tokens per chunk, so every system decodes the same length whatever the
random weights say. Each measurement runs in a fresh process (import, load, transcribe, peak
RSS), systems alternate, and the table reports the ratio within each pair of runs.

    .venv/bin/python bench/asr.py                     # base model, 1/5/15 min
    .venv/bin/python bench/asr.py --model tiny --minutes 2.5 --notes-clip   # the notes' setup
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

from hark.dev.real_speech import SPEECH_FILES, shared_speech

ROOT = Path(__file__).resolve().parents[1]
AUDIO = ROOT.parent / "shared" / "audio"
CLIPS = [*SPEECH_FILES, "fw_stereo_diarization.wav"]
NOTES_CLIPS = CLIPS[:4]  # the 150 s used in ../shared/notes/baselines.md
EOT = 50257
NEW_TOKENS = 40
BATCH = 8


def speech(seconds: float, clips: list[str]) -> "np.ndarray":  # noqa: F821, UP037
    return shared_speech(AUDIO, seconds, clips)


def worker(system: str, model: str, seconds: float, clips: list[str], threads: int) -> dict:
    audio = speech(seconds, clips)
    started = time.perf_counter()
    if system == "hark":
        import hark

        imported = time.perf_counter()
        pipeline = hark.load_engine(model, device="cpu", compute_type="int8", cpu_threads=threads)
        loaded = time.perf_counter()
        result = pipeline.transcribe(
            audio,
            language="en",
            batch_size=BATCH,
            beam_size=1,
            temperature=[0.0],
            suppress_tokens=[-1, EOT],
            max_new_tokens=NEW_TOKENS,
        )
        segments, words = len(result.segments), len(result.word_segments)
    else:
        from faster_whisper import BatchedInferencePipeline, WhisperModel

        imported = time.perf_counter()
        fw = WhisperModel(model, device="cpu", compute_type="int8", cpu_threads=threads)
        pipeline = BatchedInferencePipeline(fw)
        loaded = time.perf_counter()
        out, _info = pipeline.transcribe(
            audio,
            language="en",
            batch_size=BATCH,
            beam_size=1,
            temperature=0.0,
            suppress_tokens=[-1, EOT],
            max_new_tokens=NEW_TOKENS,
            word_timestamps=True,
        )
        out = list(out)
        segments, words = len(out), sum(len(s.words or []) for s in out)
    done = time.perf_counter()
    return {
        "system": system,
        "seconds": seconds,
        "import_s": imported - started,
        "load_s": loaded - imported,
        "transcribe_s": done - loaded,
        "rtf": (done - loaded) / seconds,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "segments": segments,
        "words": words,
    }


def run_worker(system: str, args: argparse.Namespace, seconds: float) -> dict:
    cmd = [
        sys.executable,
        __file__,
        "--worker",
        system,
        "--model",
        args.model_dir,
        "--threads",
        str(args.threads),
        "--seconds",
        str(seconds),
    ]
    if args.notes_clip:
        cmd.append("--notes-clip")
    out = subprocess.run(cmd, check=True, capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="base", help="test model architecture")
    parser.add_argument("--minutes", type=float, nargs="+", default=[1, 5, 15])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument(
        "--notes-clip", action="store_true", help="tile only the 150 s clip of the baselines note"
    )
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--model-dir", help=argparse.SUPPRESS)
    parser.add_argument("--seconds", type=float, help=argparse.SUPPRESS)
    args = parser.parse_args()
    clips = NOTES_CLIPS if args.notes_clip else CLIPS

    if args.worker:
        print(json.dumps(worker(args.worker, args.model, args.seconds, clips, args.threads)))
        return

    sys.path.insert(0, str(ROOT / "src"))
    from hark.dev.fixtures.whisper import ensure_test_models

    models = ensure_test_models(ROOT / ".cache" / "test-models", architectures=(args.model,))
    args.model_dir = str(models[f"whisper-{args.model}"])
    print(
        f"model whisper-{args.model} (random weights), greedy, batch {BATCH}, "
        f"{NEW_TOKENS} new tokens/chunk, EOT suppressed, word timestamps, "
        f"{args.threads} threads\n"
    )
    print(
        "| audio | system | load s | transcribe s | x realtime | peak RSS MB | words "
        "| hark/fw time |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for minutes in args.minutes:
        for _ in range(args.repeats):
            pair = {s: run_worker(s, args, minutes * 60) for s in ("faster-whisper", "hark")}
            ratio = pair["hark"]["transcribe_s"] / pair["faster-whisper"]["transcribe_s"]
            for name, r in pair.items():
                print(
                    f"| {minutes:g} min | {name} | {r['load_s']:.2f} | {r['transcribe_s']:.1f} "
                    f"| {1 / r['rtf']:.1f} | {r['peak_rss_mb']:.0f} | {r['words']} | "
                    f"{ratio:.2f} |",
                    flush=True,
                )


if __name__ == "__main__":
    main()
