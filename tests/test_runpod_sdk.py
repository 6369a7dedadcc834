"""The worker under the real RunPod SDK, as subprocesses: local test mode and the local API server.

`deploy/runpod/main.py` runs exactly as in the image, configured like a laptop user would
(`HARK_MODEL` at the test model, `DEVICE=cpu COMPUTE_TYPE=int8`), and is driven over HTTP on
loopback (`/run` + `/status/{id}` polling, `/runsync`).
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

import helpers
from support_server import free_port, http_probe, running_process

pytest.importorskip("runpod", reason="the RunPod SDK is installed by the dev extra")

ROOT = Path(__file__).resolve().parents[1]
WORKER_DIR = ROOT / "deploy" / "runpod"
FIXED: dict[str, Any] = {"language": "en", **helpers.FIXED, "max_new_tokens": 16}
STARTUP_TIMEOUT = 120.0


@pytest.fixture(scope="module")
def worker_env(test_models: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RUNPOD_", "HARK_"))}
    env.update(
        HARK_MODEL=str(test_models / "whisper-tiny"),
        DEVICE="cpu",
        COMPUTE_TYPE="int8",
        HARK_CPU_THREADS="2",
        RUNPOD_LOG_LEVEL="INFO",  # DEBUG would log every base64 input
        NO_PROXY="127.0.0.1,localhost",
    )
    return env


def run_main(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "main.py", *args],
        cwd=WORKER_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=STARTUP_TIMEOUT,
    )


def check_whisperx(output: dict[str, Any], formats: tuple[str, ...] = ()) -> None:
    assert set(output) == {"segments", "word_segments", "language", "duration", *formats}
    assert output["word_segments"], output
    for segment in output["segments"]:
        assert set(segment) == {"start", "end", "text", "words"}
        for word in segment["words"]:
            assert set(word) == {"word", "start", "end", "score"}
            assert segment["start"] <= word["start"] <= word["end"] <= segment["end"]


def test_local_test_mode_runs_test_input_json(worker_env: dict[str, str]) -> None:
    done = run_main(worker_env)
    log = done.stdout + done.stderr
    assert done.returncode == 0, log
    assert "Using test_input.json as job input." in log
    assert "Job local_test completed successfully." in log


def test_local_test_mode_with_test_input_argument(worker_env: dict[str, str]) -> None:
    sample = json.loads((WORKER_DIR / "test_input.json").read_text())["input"]
    test_input = {"input": {**sample, **FIXED, "output_formats": ["vtt"]}}
    done = run_main(worker_env, "--test_input", json.dumps(test_input))
    log = done.stdout + done.stderr
    assert done.returncode == 0, log
    assert "test_input set, using test_input as job input." in log
    assert "'word_segments': [{'word': " in log and "'vtt': 'WEBVTT" in log


def test_local_test_mode_reports_a_bad_job(worker_env: dict[str, str]) -> None:
    done = run_main(worker_env, "--test_input", '{"input": {"audio_base_64": "%%%"}}')
    log = done.stdout + done.stderr
    assert done.returncode == 1
    assert "Job local_test failed with error: audio_base_64 is not valid base64" in log
    assert "Traceback" not in log


@pytest.fixture(scope="module")
def api(worker_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`python deploy/runpod/main.py --rp_serve_api` on a free loopback port."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    cmd = [sys.executable, str(WORKER_DIR / "main.py"), "--rp_serve_api"]
    cmd += ["--rp_api_port", str(port), "--rp_api_host", "127.0.0.1"]
    with running_process(
        cmd,
        env=worker_env,
        cwd=ROOT,
        log_path=tmp_path_factory.mktemp("runpod") / "worker.log",
        ready=http_probe(f"{base}/openapi.json", ok=lambda r: r.is_success),
        timeout=STARTUP_TIMEOUT,
        interval=0.25,
    ):
        yield base


@pytest.fixture(scope="module")
def client(api: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=api, timeout=120, trust_env=False) as client:
        yield client


@pytest.fixture(scope="module")
def jfk_b64(shared_audio: Path) -> str:
    return base64.b64encode((shared_audio / "jfk.flac").read_bytes()).decode()


def test_run_then_status_polling(client: httpx.Client, jfk_b64: str) -> None:
    payload = {"audio_base_64": jfk_b64, "output_formats": ["srt", "txt"], **FIXED}
    submitted = client.post("/run", json={"input": payload})
    assert submitted.status_code == 200, submitted.text
    job_id = submitted.json()["id"]
    assert submitted.json()["status"] in ("IN_QUEUE", "IN_PROGRESS")

    deadline = time.monotonic() + 120
    while True:
        status = client.post(f"/status/{job_id}").json()
        if status["status"] in ("COMPLETED", "FAILED", "CANCELLED", "TIMED_OUT"):
            break
        assert time.monotonic() < deadline, status
        time.sleep(0.5)
    assert status["status"] == "COMPLETED", status
    check_whisperx(status["output"], ("srt", "txt"))
    assert status["output"]["srt"].startswith("1\n")


def test_runsync_errors_then_success(client: httpx.Client, jfk_b64: str) -> None:
    bad = [
        ({"audio_base_64": "not base64!"}, "audio_base_64 is not valid base64"),
        ({"audio_base_64": base64.b64encode(b"%PDF-1.7 ...").decode()}, "a PDF document"),
        ({"audio_base_64": jfk_b64, "max_duration": 3}, "over the 3 s limit"),
        ({"audio_base_64": jfk_b64, "diarise": True}, "unknown input option 'diarise'"),
        ({"language": "en"}, "no audio"),
    ]
    for payload, expected in bad:
        answer = client.post("/runsync", json={"input": payload}).json()
        assert answer["status"] == "FAILED", answer
        assert expected in answer["error"] and "Traceback" not in answer["error"]
    answer = client.post("/runsync", json={"input": {"audio_base64": jfk_b64, **FIXED}}).json()
    assert answer["status"] == "COMPLETED", answer
    check_whisperx(answer["output"])
    assert answer["output"]["language"] == "en"
