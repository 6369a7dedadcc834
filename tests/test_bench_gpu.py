"""bench/gpu.py, the one-go GPU benchmark, run here on CPU with the tiny model (small sizes):
every section runs and reports real numbers for both systems."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_gpu_bench_runs_on_cpu(test_models: Path, tmp_path: Path) -> None:
    out = tmp_path / "gpu.json"
    command = [
        sys.executable,
        str(ROOT / "bench" / "gpu.py"),
        "--device", "cpu",
        "--model", "tiny",
        "--minutes", "0.5",
        "--batches", "4",
        "--beams", "1",
        "--new-tokens", "4",
        "--requests", "2",
        "--seconds", "5",
        "--repeats", "1",
        "--models-dir", str(tmp_path / "models"),
        "--json", str(out),
    ]  # fmt: skip
    env = {**os.environ, "HARK_TEST_MODELS": str(test_models)}
    done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    for heading in ("## VAD", "## ASR", "## Hark's stages", "## Peak memory", "## Scheduler"):
        assert heading in done.stdout
    results = json.loads(out.read_text())
    assert results["environment"]["device"] == "cpu"
    vad = results["vad"]
    assert vad["providers"] == ["CPUExecutionProvider"]
    assert all(t > 0 for t in vad["faster_whisper_s"] + vad["hark_s"])
    (row,) = results["asr"]
    assert (row["model"], row["compute"], row["batch"], row["beam"]) == ("tiny", "int8", 4, 1)
    assert row["fw s"] > 0 and row["hark s"] > 0
    assert row["fw words"] > 0 and row["hark words"] > 0
    stages = results["stages"]["tiny int8"]
    for stage in ("vad", "features", "encode", "generate", "word times"):
        assert 0 < stages[stage] < stages["total"], stage
    kind, peak = results["memory"]["tiny int8"]
    assert kind == "peak RSS MiB" and peak > 100
    (scheduler,) = results["scheduler"]
    assert scheduler["requests"] == 2 and scheduler["same text"] is True
    # The model came from the test suite's cache: nothing was built.
    assert not (tmp_path / "models").exists()
