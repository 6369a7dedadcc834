"""Alignment benchmark: Hark's ONNX Runtime aligner vs WhisperX's torch aligner, same weights.

The model is a base-shaped wav2vec2 CTC (12 x 768, 95 M parameters, random weights) built
torch-free by `hark.dev.fixtures.aligner`; the torch side loads the very same weights as a
Transformers `Wav2Vec2ForCTC` checkpoint (`save_as_transformers`). Same audio (real speech from
../shared/audio, tiled to the length asked), same segments (10 s each, ~2.5 words a second,
numbers included), same threads. Each run is a fresh process; systems alternate.

Systems: `hark` is Hark's default on CPU (the aligner's int8 copy, `model.int8.onnx`),
`hark-float32` the float network, `hark-int8-conv` the variant with int8 convolutions,
`whisperx` WhisperX's aligner, and `asr` the step alignment is compared with: Hark's ASR
(VAD + Whisper `base`, int8, its default beam 5 and batch 8) on the same audio, decoding
ASR_TOKENS new tokens per 30-s chunk, the rate of real conversational speech (the 30-s
pyannote sample's transcript is 110 Whisper tokens). `--agreement` compares the outputs of the
int8 and float networks on the same speech.

    .venv/bin/python bench/align.py                          # all Hark systems and asr
    PYTHONPATH=/path/to/whisperx .venv/bin/python bench/align.py --minutes 2 --runs 2

The WhisperX side needs torch + transformers in the venv (`pip install 'hark[convert]'`) and
the `whisperx` package importable; `pip install --no-deps --target DIR whisperx==3.8.6 nltk`
is enough: torchaudio is stubbed (WhisperX then takes its Transformers path, as on machines
without torchaudio) and NLTK's sentence splitter, which needs a data download, is replaced by
one that keeps each segment whole.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
AUDIO = ROOT.parent / "shared" / "audio"
CACHE = ROOT / ".cache" / "bench"
CLIPS = ["silero_test.wav", "pyannote/sample.wav", "pyannote/dev00.wav", "pyannote/dev01.wav"]
SEGMENT_S = 10.0
HARK_SYSTEMS = ("hark", "hark-float32", "hark-int8-conv", "asr")
EOT = 50257
ASR_TOKENS = 110
SENTENCE = (
    "and so my fellow Americans ask not what your country can do for you ask what you "
    "can do for your country it cost 1,250 dollars in 2024 which is about 50% more"
)


def speech(seconds: float) -> Any:
    import numpy as np
    from faster_whisper import decode_audio

    one = np.concatenate([decode_audio(str(AUDIO / c)) for c in CLIPS])
    reps = int(np.ceil(seconds * 16000 / one.size))
    return np.tile(one, reps)[: int(seconds * 16000)]


def segments(seconds: float) -> list[dict[str, Any]]:
    """10 s segments of 25 words each, as dicts (WhisperX's input form)."""
    words = SENTENCE.split()
    out = []
    start, k = 0.0, 0
    while start < seconds - 0.5:
        end = min(start + SEGMENT_S, seconds)
        n = max(int(25 * (end - start) / SEGMENT_S), 1)
        text = " " + " ".join(words[(k + i) % len(words)] for i in range(n))
        out.append({"start": start, "end": end, "text": text})
        start, k = end, k + n
    return out


def cpu_seconds() -> float:
    """CPU time of this process, all threads: fairer than wall time on a shared machine."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def peak_rss_mb() -> float:
    """This process's peak resident memory. Not ru_maxrss: Linux carries that over from the
    parent through fork + exec, so every worker would report the parent's peak."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def model_dirs(variant: str = "") -> tuple[Path, Path]:
    """(ONNX aligner, Transformers checkpoint) of the same random base weights, built once.
    The ONNX directory has `model.onnx` and its int8 copy, as `convert-aligner` writes them;
    variant "int8-conv" gives one whose int8 copy has int8 convolutions too."""
    from hark.dev.fixtures.aligner import make_test_aligner

    onnx_dir = CACHE / "wav2vec2-base-random"
    if not (onnx_dir / "model.int8.onnx").is_file():
        make_test_aligner(onnx_dir, arch="base")
    hf_dir = CACHE / "wav2vec2-base-random-hf"
    if variant != "int8-conv":
        return onnx_dir, hf_dir
    out = CACHE / "wav2vec2-base-random-int8-conv"
    if not (out / "model.int8.onnx").is_file():
        from hark.align.quantize import quantize_aligner

        out.mkdir(parents=True, exist_ok=True)
        for f in onnx_dir.glob("*.json"):
            (out / f.name).write_bytes(f.read_bytes())
        quantize_aligner(onnx_dir / "model.onnx", out / "model.int8.onnx", convolutions=True)
    return out, hf_dir


def ensure_transformers_copy() -> Path | None:
    try:
        import torch  # noqa: F401
        import transformers  # noqa: F401
    except ImportError:
        return None
    from hark.dev.fixtures.aligner import save_as_transformers

    onnx_dir, hf_dir = model_dirs()
    if not (hf_dir / "config.json").is_file():
        save_as_transformers(onnx_dir, hf_dir)
    return hf_dir


def run_hark(seconds: float, threads: int, variant: str) -> dict[str, Any]:
    from hark.align import align, load_align_model
    from hark.schema import Segment

    audio = speech(seconds)
    segs = [Segment(**s) for s in segments(seconds)]
    onnx_dir, _ = model_dirs(variant)
    compute_type = "float32" if variant == "float32" else "auto"
    started = time.perf_counter()
    model = load_align_model("en", str(onnx_dir), cpu_threads=threads, compute_type=compute_type)
    loaded = time.perf_counter()
    align(segs[:1], audio, model)  # warm-up (first-run allocations)
    network_s = 0.0
    run = model.network.run

    def timed(x: Any) -> Any:
        nonlocal network_s
        t = time.perf_counter()
        try:
            return run(x)
        finally:
            network_s += time.perf_counter() - t

    model.network.run = timed  # type: ignore[method-assign]
    t0, c0 = time.perf_counter(), cpu_seconds()
    out = align(segs, audio, model)
    align_s, cpu_s = time.perf_counter() - t0, cpu_seconds() - c0
    words = [w for s in out for w in s.words]
    return {
        "load_s": loaded - started,
        "align_s": align_s,
        "cpu_s": cpu_s,
        "network_s": network_s,
        "words": len(words),
        "unaligned": sum(bool(w.interpolated) for w in words),
    }


def run_whisperx(seconds: float, threads: int) -> dict[str, Any]:
    import importlib.machinery
    import types

    import torch

    torch.set_num_threads(threads)
    # No torchaudio: WhisperX loads the model through Transformers (its aarch64 path).
    stub = types.ModuleType("torchaudio")
    stub.__spec__ = importlib.machinery.ModuleSpec("torchaudio", None)
    stub.pipelines = types.SimpleNamespace(__all__=[])  # type: ignore[attr-defined]
    sys.modules.setdefault("torchaudio", stub)
    import whisperx.alignment as wxa

    class WholeSegment:
        def span_tokenize(self, text: str) -> list[tuple[int, int]]:
            return [(0, len(text))]

    wxa.nltk_load = lambda *_a, **_k: WholeSegment()
    hf_dir = ensure_transformers_copy()
    audio = speech(seconds)
    segs = segments(seconds)
    started = time.perf_counter()
    model, metadata = wxa.load_align_model("en", "cpu", model_name=str(hf_dir))
    loaded = time.perf_counter()
    wxa.align(segs[:1], model, metadata, audio, "cpu")
    t0, c0 = time.perf_counter(), cpu_seconds()
    out = wxa.align(segs, model, metadata, audio, "cpu")
    align_s, cpu_s = time.perf_counter() - t0, cpu_seconds() - c0
    words = out["word_segments"]
    return {
        "load_s": loaded - started,
        "align_s": align_s,
        "cpu_s": cpu_s,
        "words": len(words),
        "unaligned": sum("start" not in w for w in words),
    }


def run_asr(seconds: float, threads: int) -> dict[str, Any]:
    import hark
    from hark.dev.fixtures.whisper import ensure_test_models

    model_dir = ensure_test_models(ROOT / ".cache" / "test-models", ["base"])["whisper-base"]
    audio = speech(seconds)
    started = time.perf_counter()
    pipeline = hark.load_engine(model_dir, device="cpu", compute_type="int8", cpu_threads=threads)
    loaded = time.perf_counter()
    decode = dict(language="en", align=False, suppress_tokens=[-1, EOT], max_new_tokens=ASR_TOKENS)
    pipeline.transcribe(audio[: 16000 * 5], **decode)  # warm-up
    t0, c0 = time.perf_counter(), cpu_seconds()
    result = pipeline.transcribe(audio, **decode)
    return {
        "load_s": loaded - started,
        "align_s": time.perf_counter() - t0,  # the step's time, in the table's column
        "cpu_s": cpu_seconds() - c0,
        "words": len(result.word_segments),
        "unaligned": 0,
    }


def worker(system: str, seconds: float, threads: int) -> dict[str, Any]:
    if system == "whisperx":
        result = run_whisperx(seconds, threads)
    elif system == "asr":
        result = run_asr(seconds, threads)
    else:
        result = run_hark(seconds, threads, variant=system.partition("-")[2])
    result.update(
        system=system,
        seconds=seconds,
        per_minute_s=result["align_s"] / seconds * 60,
        peak_rss_mb=peak_rss_mb(),
    )
    return result


def agreement(seconds: float, threads: int) -> dict[str, Any]:
    """How close the int8 network's output is to the float network's on real speech: total
    variation between their frame distributions and how often their best column agrees.
    (Word times are not compared: the random model hears none of the words, so its forced
    path through the text is near-arbitrary and moves with any noise; a trained aligner's is
    pinned by the speech. That needs real weights.)"""
    import numpy as np

    from hark.align import load_align_model

    audio = speech(seconds)
    onnx_dir, _ = model_dirs()
    probs = {}
    for compute_type in ("float32", "int8"):
        model = load_align_model(
            "en", str(onnx_dir), cpu_threads=threads, compute_type=compute_type
        )
        probs[compute_type] = np.exp(model.log_probs(audio))
    f, q = probs["float32"], probs["int8"]
    return {
        "frames": len(f),
        "total_variation": round(float(0.5 * np.abs(q - f).sum(1).mean()), 4),
        "argmax_agreement": round(float((q.argmax(1) == f.argmax(1)).mean()), 4),
    }


def whisperx_available() -> bool:
    code = "import torch, transformers, whisperx, nltk"
    return subprocess.run([sys.executable, "-c", code], capture_output=True).returncode == 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, nargs="+", default=[1.0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument(
        "--systems",
        nargs="+",
        default=None,
        help=f"{', '.join(HARK_SYSTEMS)}, whisperx (default: all available)",
    )
    parser.add_argument("--agreement", action="store_true", help="int8 vs float word times")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.agreement:
        print(json.dumps(agreement(args.minutes[0] * 60, args.threads)))
        return
    if args.worker:
        print(json.dumps(worker(args.worker, args.minutes[0] * 60, args.threads)))
        return

    systems = args.systems or list(HARK_SYSTEMS)
    if args.systems is None and whisperx_available():
        systems.append("whisperx")
        ensure_transformers_copy()
    for system in systems:  # build outside the timed runs
        if system.startswith("hark"):
            model_dirs(system.partition("-")[2])
    env = {**os.environ, "OMP_NUM_THREADS": str(args.threads), "MKL_NUM_THREADS": str(args.threads)}
    rows = []
    for minutes in args.minutes:
        for _ in range(args.runs):
            for system in systems:
                cmd = [
                    sys.executable,
                    __file__,
                    "--worker",
                    system,
                    "--minutes",
                    str(minutes),
                    "--threads",
                    str(args.threads),
                ]
                done = subprocess.run(cmd, capture_output=True, text=True, env=env)
                if done.returncode:
                    print(done.stderr[-3000:], file=sys.stderr)
                    continue
                row = json.loads(done.stdout.strip().splitlines()[-1])
                rows.append(row)
                print(json.dumps(row), flush=True)
    print(
        f"\n| system | audio | load | align wall | wall per min | CPU per min | model share | "
        f"words (unaligned) | peak RSS |  ({args.threads} threads)"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        network = r.get("network_s")
        share = f"{network / r['align_s']:.0%}" if network is not None else "-"
        print(
            f"| {r['system']} | {r['seconds']:.0f} s | {r['load_s']:.2f} s | "
            f"{r['align_s']:.2f} s | {r['per_minute_s']:.2f} s | "
            f"{r['cpu_s'] / r['seconds'] * 60:.2f} s | {share} | "
            f"{r['words']} ({r['unaligned']}) | {r['peak_rss_mb']:.0f} MB |"
        )
    for reference in ("whisperx", "asr"):
        compare(rows, systems, reference)


def compare(rows: list[dict[str, Any]], systems: list[str], reference: str) -> None:
    """Each aligner's speed against `reference` (mean over runs, wall and CPU)."""
    baseline = [r for r in rows if r["system"] == reference]
    if baseline:
        wall = sum(r["per_minute_s"] for r in baseline) / len(baseline)
        cpu = sum(r["cpu_s"] / r["seconds"] for r in baseline) / len(baseline) * 60
        for system in systems:
            mine = [r for r in rows if r["system"] == system]
            if system in ("whisperx", "asr") or not mine:
                continue
            w = sum(r["per_minute_s"] for r in mine) / len(mine)
            c = sum(r["cpu_s"] / r["seconds"] for r in mine) / len(mine) * 60
            print(f"{system}: {wall / w:.2f}x faster than {reference} (wall), {cpu / c:.2f}x (CPU)")


if __name__ == "__main__":
    main()
