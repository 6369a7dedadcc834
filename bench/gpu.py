"""GPU benchmark in one go: Hark vs faster-whisper's batched pipeline, VAD, stages, scheduler.

Everything in one process, the two systems alternating on the same model directory and the
same audio (the shared speech tiled), decoding a fixed length (end-of-text suppressed,
`--new-tokens` per chunk), word timestamps on (Whisper's), alignment off:

1. VAD alone: Hark's Silero session (`hark.silero`) vs faster-whisper's `get_speech_timestamps`.
2. ASR end to end, per model x compute type x batch size x beam: times, x realtime, ratio.
3. Where Hark's time goes (one greedy run at the largest batch): VAD, features, encode,
   generate, word times, the rest.
4. The scheduler: N concurrent 20-s requests vs the same N one after another.
5. Peak GPU memory (nvidia-smi, polled) or peak RSS on CPU.

Random-weight models with the real shapes are built by Hark's fixture code when missing
(float16 weights on CUDA, about 35 s for large-v2; set HARK_WHISPER_SDIST to the openai-whisper
sdist where there is no network; HARK_SHARED_AUDIO to the shared audio when it is not at
../shared/audio). Prints markdown; `--json FILE` also writes every number.

The whole default matrix (2 models x 2 compute types x batches 16, 64 x greedy, beam 5, two
alternating runs each, 30 min) takes roughly 15-20 min on an H200; to fit 10-min slots, run
one model per command with `--repeats 1` (about 4 min each, plus 35 s to build the model).

    python bench/gpu.py --device cuda --models-dir /tmp/models --json $OUT/gpu.json
    python bench/gpu.py --device cpu --model tiny --minutes 1 --batches 8 --requests 4
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
# The shared speech (as the tests find it: HARK_SHARED_AUDIO, or ../shared/audio).
AUDIO = Path(os.environ.get("HARK_SHARED_AUDIO", ROOT.parent / "shared" / "audio"))
EOT = 50257  # the same id in the 51,865 and 51,866 vocabularies
RATE = 16000


def speech(seconds: float, offset: float = 0.0) -> np.ndarray:
    from hark.dev.real_speech import shared_speech

    return shared_speech(AUDIO, seconds, offset=offset)


# --- memory -------------------------------------------------------------------------------


class PeakMemory:
    """Peak GPU memory in use (MiB, nvidia-smi polled every 0.1 s) since the last `reset`;
    on CPU the process's peak RSS."""

    def __init__(self, device: str) -> None:
        self.gpu = device == "cuda" and shutil.which("nvidia-smi") is not None
        self.peak = 0.0
        self._stop = threading.Event()
        if self.gpu:
            threading.Thread(target=self._poll, daemon=True).start()

    @staticmethod
    def _used() -> float:
        out = subprocess.run(
            ["nvidia-smi", "--query-gpu=memory.used", "--format=csv,noheader,nounits", "-i", "0"],
            capture_output=True,
            text=True,
            check=False,
        )
        try:
            return float(out.stdout.strip().splitlines()[0])
        except (IndexError, ValueError):
            return 0.0

    def _poll(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self._used())
            time.sleep(0.1)

    def reset(self) -> None:
        self.peak = self._used() if self.gpu else 0.0

    def read(self) -> tuple[str, float]:
        if self.gpu:
            return "GPU MiB", self.peak
        return "peak RSS MiB", resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    def close(self) -> None:
        self._stop.set()


# --- models -------------------------------------------------------------------------------


def model_dir(arch: str, device: str, models_dir: Path) -> Path:
    """The random-weight model `arch`, built when missing (float16 on CUDA, int8 on CPU)."""
    from hark.dev.fixtures import whisper as tm

    if device == "cpu" and arch in tm.DEFAULT_ARCHITECTURES:  # the test suite's own copies
        cached = Path(os.environ.get("HARK_TEST_MODELS", ROOT / ".cache" / "test-models"))
        return tm.ensure_test_models(cached, [arch])[f"whisper-{arch}"]
    if arch not in tm.WHISPER_ARCHITECTURES:
        raise SystemExit(
            f"unknown architecture {arch}; known: {', '.join(tm.WHISPER_ARCHITECTURES)}"
        )
    quantization = "float16" if device == "cuda" else "int8"
    target = models_dir / f"whisper-{arch}-{quantization}"
    if not (target / "model.bin").is_file():
        models_dir.mkdir(parents=True, exist_ok=True)
        started = time.perf_counter()
        tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=models_dir))
        tm.build_whisper_model(tm.WHISPER_ARCHITECTURES[arch], tmp, quantization=quantization)
        tmp.rename(target)
        print(f"built {target} in {time.perf_counter() - started:.0f} s", flush=True)
    return target


# --- timing helpers -----------------------------------------------------------------------


def timed(fn: Callable[[], Any]) -> float:
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


@contextmanager
def stage_timer(obj: Any, name: str, totals: dict[str, float], key: str) -> Iterator[None]:
    """Adds the time of every call of `obj.name` to `totals[key]` (instance attribute)."""
    original = getattr(obj, name)
    own = name in vars(obj)  # a module's function, not a method looked up on the class
    lock = threading.Lock()

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        try:
            return original(*args, **kwargs)
        finally:
            with lock:
                totals[key] = totals.get(key, 0.0) + time.perf_counter() - started

    setattr(obj, name, wrapper)
    try:
        yield
    finally:
        if own:
            setattr(obj, name, original)
        else:
            delattr(obj, name)  # the instance attribute hid the method: back to the method


def table(rows: list[dict[str, Any]], columns: list[str]) -> str:
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    for row in rows:
        lines.append("| " + " | ".join(_fmt(row.get(c, "")) for c in columns) + " |")
    return "\n".join(lines)


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.3f}" if value < 10 else f"{value:.1f}"
    return str(value)


# --- sections -----------------------------------------------------------------------------


def bench_vad(args: argparse.Namespace, audio: np.ndarray) -> dict[str, Any]:
    from faster_whisper.vad import get_speech_timestamps

    from hark.silero import SileroConfig, SileroVad
    from hark.vad import VadOptions, detect_speech, speech_probabilities

    vad = SileroVad(SileroConfig(threads=args.vad_threads), device=args.device)
    get_speech_timestamps(audio[: 5 * RATE])
    vad(audio[: 5 * RATE])
    fw, hark = [], []
    for i in range(max(2, args.repeats)):
        runs = [
            (fw, lambda: get_speech_timestamps(audio)),
            (hark, lambda: detect_speech(audio, VadOptions(), speech_probabilities(audio, vad))),
        ]
        for times, fn in runs if i % 2 == 0 else runs[::-1]:
            times.append(timed(fn))
    ratios = [f / h for f, h in zip(fw, hark, strict=True)]
    return {
        "providers": vad.providers,
        "threads": vad.session.get_session_options().intra_op_num_threads,
        "faster_whisper_s": fw,
        "hark_s": hark,
        "fw_over_hark": ratios,
    }


def asr_kwargs(system: str, batch: int, beam: int, new_tokens: int) -> dict[str, Any]:
    common = dict(
        language="en",
        batch_size=batch,
        beam_size=beam,
        suppress_tokens=[-1, EOT],
        max_new_tokens=new_tokens,
        word_timestamps=True,
    )
    if system == "hark":
        return {**common, "temperature": [0.0], "align": False}
    return {**common, "temperature": 0.0}


def bench_asr(
    args: argparse.Namespace, arch: str, path: Path, compute_type: str, audio: np.ndarray
) -> tuple[list[dict[str, Any]], dict[str, float], Any]:
    from faster_whisper import BatchedInferencePipeline, WhisperModel

    import hark
    from hark.cores import default_cpu_threads

    threads = args.cpu_threads or default_cpu_threads()
    pipeline = hark.load_engine(
        path, device=args.device, compute_type=compute_type, cpu_threads=threads
    )
    fw = BatchedInferencePipeline(
        WhisperModel(str(path), device=args.device, compute_type=compute_type, cpu_threads=threads)
    )
    seconds = audio.size / RATE

    def run_fw(batch: int, beam: int) -> int:
        segments, _ = fw.transcribe(audio, **asr_kwargs("fw", batch, beam, args.new_tokens))
        return sum(len(s.words or []) for s in segments)

    def run_hark(batch: int, beam: int) -> int:
        kwargs = asr_kwargs("hark", batch, beam, args.new_tokens)
        return len(pipeline.transcribe(audio, **kwargs).word_segments)

    # Warm-up: CUDA kernels, VAD sessions, tokenizers.
    warm = audio[: 40 * RATE]
    fw.transcribe(warm, **asr_kwargs("fw", 4, 1, 4))
    pipeline.transcribe(warm, **asr_kwargs("hark", 4, 1, 4))

    rows = []
    turn = 0  # who goes first alternates run after run, also across settings
    for batch in args.batches:
        for beam in args.beams:
            times: dict[str, list[float]] = {"fw": [], "hark": []}
            words: dict[str, int] = {}
            for _ in range(args.repeats):
                order = [("fw", run_fw), ("hark", run_hark)]
                turn += 1
                for name, fn in order if turn % 2 else order[::-1]:
                    started = time.perf_counter()
                    words[name] = fn(batch, beam)
                    times[name].append(time.perf_counter() - started)
            fw_s, hark_s = statistics.median(times["fw"]), statistics.median(times["hark"])
            row = {
                "model": arch,
                "compute": compute_type,
                "audio": f"{seconds / 60:g} min",
                "batch": batch,
                "beam": beam,
                "fw s": fw_s,
                "fw xRT": seconds / fw_s,
                "hark s": hark_s,
                "hark xRT": seconds / hark_s,
                "hark/fw time": hark_s / fw_s,
                "fw words": words["fw"],
                "hark words": words["hark"],
                "fw runs": times["fw"],
                "hark runs": times["hark"],
            }
            rows.append(row)
            print(table([row], ASR_COLUMNS).splitlines()[-1], flush=True)

    stages = hark_stages(args, pipeline, audio)
    return rows, stages, pipeline


ASR_COLUMNS = [
    "model",
    "compute",
    "audio",
    "batch",
    "beam",
    "fw s",
    "fw xRT",
    "hark s",
    "hark xRT",
    "hark/fw time",
    "fw words",
    "hark words",
]


def hark_stages(args: argparse.Namespace, pipeline: Any, audio: np.ndarray) -> dict[str, float]:
    """One greedy run at the largest batch with every stage timed."""
    import hark.pipeline as hp

    totals: dict[str, float] = {}
    asr = pipeline.pipeline.asr
    kwargs = asr_kwargs("hark", max(args.batches), 1, args.new_tokens)
    with (
        stage_timer(hp, "speech_probabilities", totals, "vad"),
        stage_timer(hp, "detect_speech", totals, "vad"),
        stage_timer(asr, "features", totals, "features"),
        stage_timer(asr, "encode", totals, "encode"),
        stage_timer(asr, "_generate", totals, "generate"),
        stage_timer(asr.model, "find_alignment", totals, "word times"),
    ):
        total = timed(lambda: pipeline.transcribe(audio, **kwargs))
    totals["total"] = total
    totals["rest"] = total - sum(v for k, v in totals.items() if k != "total")
    return totals


def bench_scheduler(args: argparse.Namespace, pipeline: Any) -> list[dict[str, Any]]:
    from hark.engine import Engine

    options = dict(language="en", suppress_tokens=[-1, EOT], max_new_tokens=64, align=False)
    rows = []
    for n in args.requests:
        clips = [speech(args.seconds, offset=37.0 * i) for i in range(n)]
        pipeline.transcribe(clips[0][: 5 * RATE], **options)
        started = time.perf_counter()
        serial = [pipeline.transcribe(c, **options) for c in clips]
        serial_s = time.perf_counter() - started
        scheduler = Engine(pipeline.pipeline, max_requests=n)
        try:
            started = time.perf_counter()
            with ThreadPoolExecutor(n) as pool:
                together = list(pool.map(partial(scheduler.transcribe, **options), clips))
            together_s = time.perf_counter() - started
        finally:
            scheduler.close()
        same = [t.text for t in serial] == [t.text for t in together]
        rows.append(
            {
                "requests": n,
                "clip s": args.seconds,
                "one after another s": serial_s,
                "concurrent s": together_s,
                "speed-up": serial_s / together_s,
                "same text": same,
            }
        )
        print(table(rows[-1:], SCHED_COLUMNS).splitlines()[-1], flush=True)
    return rows


SCHED_COLUMNS = [
    "requests",
    "clip s",
    "one after another s",
    "concurrent s",
    "speed-up",
    "same text",
]


def environment(args: argparse.Namespace) -> dict[str, Any]:
    import ctranslate2
    import faster_whisper
    import onnxruntime

    info: dict[str, Any] = {
        "python": platform.python_version(),
        "ctranslate2": ctranslate2.__version__,
        "faster_whisper": faster_whisper.__version__,
        "onnxruntime": onnxruntime.__version__,
        "ort_providers": onnxruntime.get_available_providers(),
        "cuda_devices": ctranslate2.get_cuda_device_count(),
        "device": args.device,
    }
    if args.device == "cuda" and shutil.which("nvidia-smi"):
        out = subprocess.run(
            ["nvidia-smi", "--query-gpu=name,driver_version,memory.total", "--format=csv,noheader"],
            capture_output=True,
            text=True,
            check=False,
        )
        info["gpu"] = out.stdout.strip()
    return info


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda", choices=["cuda", "cpu"])
    parser.add_argument(
        "--model",
        action="append",
        dest="models",
        help="architecture (repeatable; default large-v2 and large-v3-turbo)",
    )
    parser.add_argument("--compute-types", nargs="+", default=None)
    parser.add_argument("--minutes", type=float, default=30.0)
    parser.add_argument("--batches", type=int, nargs="+", default=[16, 64])
    parser.add_argument("--beams", type=int, nargs="+", default=[1, 5])
    parser.add_argument("--new-tokens", type=int, default=110)
    parser.add_argument("--requests", type=int, nargs="*", default=[16, 32])
    parser.add_argument("--seconds", type=float, default=20.0, help="scheduler clip length")
    parser.add_argument("--repeats", type=int, default=2, help="alternating runs per setting")
    parser.add_argument("--vad-threads", type=int, default=0, help="0: every core")
    parser.add_argument("--cpu-threads", type=int, default=0)
    parser.add_argument("--models-dir", type=Path, default=ROOT / ".cache" / "bench-models")
    parser.add_argument("--json", type=Path, help="also write every number here")
    args = parser.parse_args()
    archs = args.models or ["large-v2", "large-v3-turbo"]
    compute_types = args.compute_types or (
        ["float16", "int8_float16"] if args.device == "cuda" else ["int8"]
    )

    memory = PeakMemory(args.device)
    results: dict[str, Any] = {"environment": environment(args), "args": vars(args)}
    results["args"] = {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()}
    print("environment:", json.dumps(results["environment"]), "\n", flush=True)
    audio = speech(args.minutes * 60)

    vad = bench_vad(args, audio)
    results["vad"] = vad
    print(
        f"## VAD on {args.minutes:g} min ({', '.join(vad['providers'])}, {vad['threads']} threads)"
        f"\nfaster-whisper {', '.join(f'{t:.2f}' for t in vad['faster_whisper_s'])} s; "
        f"Hark {', '.join(f'{t:.2f}' for t in vad['hark_s'])} s; fw/Hark "
        f"{', '.join(f'{r:.2f}x' for r in vad['fw_over_hark'])}\n",
        flush=True,
    )

    results["asr"], results["stages"], results["memory"] = [], {}, {}
    scheduler_pipeline = None
    print("## ASR\n" + "\n".join(table([], ASR_COLUMNS).splitlines()[:2]), flush=True)
    for arch in archs:
        path = model_dir(arch, args.device, args.models_dir)
        for compute_type in compute_types:
            memory.reset()
            rows, stages, pipeline = bench_asr(args, arch, path, compute_type, audio)
            results["asr"] += rows
            results["stages"][f"{arch} {compute_type}"] = stages
            results["memory"][f"{arch} {compute_type}"] = memory.read()
            if scheduler_pipeline is None:
                scheduler_pipeline = pipeline
            else:
                pipeline.close()  # its scheduler's threads hold the model until closed
                del pipeline
            gc.collect()

    print("\n## Hark's stages (greedy, largest batch), seconds")
    stage_rows = [{"run": k, **v} for k, v in results["stages"].items()]
    stage_cols = ["run", "vad", "features", "encode", "generate", "word times", "rest", "total"]
    print(table(stage_rows, stage_cols))
    print("\n## Peak memory (both systems' models loaded)")
    for run, (kind, value) in results["memory"].items():
        print(f"- {run}: {value:.0f} {kind}")

    if args.requests and scheduler_pipeline is not None:
        print(f"\n## Scheduler ({archs[0]} {compute_types[0]}, beam 5, 64 tokens)")
        print("\n".join(table([], SCHED_COLUMNS).splitlines()[:2]), flush=True)
        results["scheduler"] = bench_scheduler(args, scheduler_pipeline)
    memory.close()
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(results, indent=2, default=str) + "\n")


if __name__ == "__main__":
    main()
