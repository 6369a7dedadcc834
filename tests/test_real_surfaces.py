"""Every surface gives the same words for `jfk.flac` with the real Whisper base (CPU int8).

Python API, `hark transcribe`, `POST /asr`, `POST /v1/audio/transcriptions`, `POST /run` (then
`/status`) and the RunPod handler, each with its own defaults, against the reference.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from hark.dev.accuracy import normalize_words
from hark.runpod.config import RunpodSettings
from hark.runpod.handler import Worker
from hark.settings import Settings
from support_jobs import b64, submit, wait_status
from support_server import Server, shared_server

REFERENCE = (
    "And so my fellow Americans, ask not what your country can do for you, "
    "ask what you can do for your country."
)


@pytest.fixture(scope="module")
def jfk(shared_audio: Path) -> Path:
    return shared_audio / "jfk.flac"


@pytest.fixture(scope="module")
def api_words(real_engine: Any, jfk: Path) -> list[str]:
    words = [w.word for w in real_engine.transcribe(jfk).word_segments]
    assert normalize_words(" ".join(words)) == normalize_words(REFERENCE), words
    return words


@pytest.fixture(scope="module")
def server(real_whisper_base: Path, tmp_path_factory: pytest.TempPathFactory) -> Server:
    env = {
        "HARK_MODEL": str(real_whisper_base),
        "HARK_COMPUTE_TYPE": "int8",
        "HARK_CPU_THREADS": "2",
        "HARK_DATA_DIR": str(tmp_path_factory.mktemp("real-surfaces")),
    }
    return shared_server("real-whisper-base", real_whisper_base.parent, env=env)


def test_cli(api_words: list[str], real_whisper_base: Path, jfk: Path, tmp_path: Path) -> None:
    command = [sys.executable, "-m", "hark.cli", "transcribe", str(jfk), "-o", str(tmp_path)]
    command += ["-f", "json", "--model", str(real_whisper_base), "--device", "cpu"]
    command += ["--compute-type", "int8", "--cpu-threads", "2", "-q"]
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr
    data = json.loads((tmp_path / "jfk.json").read_text())
    assert [w["word"] for w in data["word_segments"]] == api_words


def test_asr(api_words: list[str], server: Server, jfk: Path) -> None:
    with server.client() as client:
        r = client.post(
            "/asr",
            params={"output": "json"},
            files={"file": ("jfk.flac", jfk.read_bytes(), "audio/flac")},
        )
    assert r.status_code == 200, r.text
    assert [w["word"] for w in r.json()["word_segments"]] == api_words


def test_openai_transcriptions(api_words: list[str], server: Server, jfk: Path) -> None:
    with server.client() as client:
        r = client.post(
            "/v1/audio/transcriptions",
            data={
                "model": "whisper-1",
                "response_format": "verbose_json",
                "timestamp_granularities[]": "word",
            },
            files={"file": ("jfk.flac", jfk.read_bytes(), "audio/flac")},
        )
    assert r.status_code == 200, r.text
    assert [w["word"].strip() for w in r.json()["words"]] == api_words
    assert normalize_words(r.json()["text"]) == normalize_words(REFERENCE)


def test_jobs_run(api_words: list[str], server: Server, jfk: Path) -> None:
    with server.client() as client:
        job_id = submit(client, {"audio_base_64": b64(jfk.read_bytes())})
        done = wait_status(client, job_id, timeout=180)
    assert done["status"] == "COMPLETED", done
    assert [w["word"] for w in done["output"]["word_segments"]] == api_words


def test_runpod_handler(api_words: list[str], real_whisper_base: Path, jfk: Path) -> None:
    settings = Settings(
        model=str(real_whisper_base), device="cpu", compute_type="int8", cpu_threads=2
    )
    worker = Worker(settings, RunpodSettings())
    assert worker.pipeline is not None, worker.load_error
    output = worker.run({"id": "jfk", "input": {"audio_base_64": b64(jfk.read_bytes())}})
    assert [w["word"] for w in output["word_segments"]] == api_words
