"""HTTP serving benchmark: requests/s and latency at 1, 4 and 16 concurrent clients, next to the
CLI on the same files in the same run.

Clips of 10-30 s are cut from ../shared/audio and written as WAV. The server (`hark serve`, a
subprocess on 127.0.0.1) and the CLI use the same model and the same decoding as bench/asr.py:
greedy, batch 8, end-of-text suppressed and a fixed number of new tokens per chunk, so random
test weights decode a realistic length. Prints a markdown table.

    .venv/bin/python bench/serve.py                         # the tiny test model
    .venv/bin/python bench/serve.py --model small --clients 1 4 16 --requests 32
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import wave
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
AUDIO = ROOT.parent / "shared" / "audio"
SOURCES = ["pyannote/dev00.wav", "pyannote/sample.wav", "silero_test.wav", "pyannote/dev01.wav"]
LENGTHS = [10.0, 13.0, 16.0, 19.0, 22.0, 25.0, 28.0, 30.0]
EOT = 50257
DECODE = {
    "language": "en",
    "beam_size": "1",
    "temperature": "0",
    "suppress_tokens": f"-1,{EOT}",
    "max_new_tokens": "40",
    "batch_size": "8",
}


def make_clips(out: Path) -> list[tuple[Path, float]]:
    from hark.audio import load_audio

    clips = []
    for i, seconds in enumerate(LENGTHS):
        audio = load_audio(AUDIO / SOURCES[i % len(SOURCES)])
        start = int((i * 1.7 % 5) * 16000)
        cut = np.tile(audio, 2)[start : start + int(seconds * 16000)]
        path = out / f"clip{i:02d}-{int(seconds)}s.wav"
        with wave.open(str(path), "wb") as w:
            w.setnchannels(1)
            w.setsampwidth(2)
            w.setframerate(16000)
            w.writeframes((np.clip(cut, -1, 1) * 32767).astype("<i2").tobytes())
        clips.append((path, seconds))
    return clips


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_server(model: str, threads: int, log: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    env = {**os.environ, "HARK_LOG_LEVEL": "warning", "HARK_QUEUE_SIZE": "256"}
    cmd = [sys.executable, "-m", "hark.cli", "serve", "--host", "127.0.0.1", "--port", str(port)]
    cmd += ["--model", model, "--device", "cpu", "--compute-type", "int8"]
    cmd += ["--cpu-threads", str(threads)]
    with log.open("wb") as f:
        proc = subprocess.Popen(cmd, env=env, stdout=f, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"server exited:\n{log.read_text()}")
        try:
            if httpx.get(f"{url}/ready", timeout=2).status_code == 200:
                return proc, url
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    proc.kill()
    raise SystemExit("server not ready")


def run_level(url: str, clips: list[tuple[Path, float]], clients: int, requests: int) -> dict:
    data = {p: p.read_bytes() for p, _ in clips}
    jobs = [clips[i % len(clips)] for i in range(requests)]

    def one(job: tuple[Path, float]) -> float:
        path, _ = job
        started = time.perf_counter()
        with httpx.Client(timeout=600) as client:
            r = client.post(f"{url}/asr", params=DECODE, files={"file": (path.name, data[path])})
        r.raise_for_status()
        return time.perf_counter() - started

    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=clients) as pool:
        latencies = sorted(pool.map(one, jobs))
    wall = time.perf_counter() - started
    return {
        "requests": requests,
        "rps": requests / wall,
        "p50": statistics.median(latencies),
        "p95": statistics.quantiles(latencies, n=20, method="inclusive")[-1],
        "audio_x": sum(s for _, s in jobs) / wall,
    }


def run_cli(model: str, threads: int, files: list[Path], out: Path) -> float:
    flags = ["--model", model, "--device", "cpu", "--compute-type", "int8"]
    flags += ["--cpu-threads", str(threads), "-f", "json", "-o", str(out), "-q"]
    for key, value in DECODE.items():
        flags += [f"--{key.replace('_', '-')}", value]
    started = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "hark.cli", "transcribe", *map(str, files), *flags],
        check=True,
        capture_output=True,
    )
    return time.perf_counter() - started


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default=str(ROOT / ".cache" / "test-models" / "whisper-tiny"))
    ap.add_argument("--threads", type=int, default=0, help="CPU threads (0: all)")
    ap.add_argument("--clients", type=int, nargs="+", default=[1, 4, 16])
    ap.add_argument("--requests", type=int, default=16, help="requests per level (min 2x clients)")
    args = ap.parse_args()
    if Path(args.model).parent.name == "test-models":
        from hark.dev.fixtures.whisper import ensure_test_models

        ensure_test_models(Path(args.model).parent)

    with tempfile.TemporaryDirectory(prefix="hark-bench-serve-") as tmp:
        work = Path(tmp)
        clips = make_clips(work)
        total_audio = sum(s for _, s in clips)
        rows = []
        proc, url = start_server(args.model, args.threads, work / "server.log")
        try:
            run_level(url, clips[:2], 1, 2)  # warm-up
            for clients in args.clients:
                r = run_level(url, clips, clients, max(args.requests, 2 * clients))
                rows.append(
                    f"| server | {clients} | {r['requests']} | {r['rps']:.2f} | "
                    f"{r['p50']:.2f} | {r['p95']:.2f} | {r['audio_x']:.1f}x |"
                )
        finally:
            proc.terminate()
            proc.wait(timeout=30)
        files = [p for p, _ in clips]
        batch = run_cli(args.model, args.threads, files, work / "cli")
        rows.append(
            f"| CLI, one process for all {len(files)} files | 1 | {len(files)} | "
            f"{len(files) / batch:.2f} | - | - | {total_audio / batch:.1f}x |"
        )
        singles = sorted(run_cli(args.model, args.threads, [f], work / "one") for f in files)
        rows.append(
            f"| CLI, one process per file | 1 | {len(files)} | {len(files) / sum(singles):.2f} | "
            f"{statistics.median(singles):.2f} | {singles[-1]:.2f} | "
            f"{total_audio / sum(singles):.1f}x |"
        )

    print(f"model {args.model}, {len(clips)} clips of {LENGTHS[0]:g}-{LENGTHS[-1]:g} s, cpu int8\n")
    print("| mode | clients | requests | req/s | p50 s | p95 s | audio/wall |")
    print("|---|---|---|---|---|---|---|")
    print("\n".join(rows))


if __name__ == "__main__":
    main()
