"""Operations: concurrent load, probes that stay fast while the model works, and metrics."""

from __future__ import annotations

import re
import shutil
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from support_server import FAST, Server, clip, open_request, wait_for
from test_server_asr import main_server

METRICS = [
    "hark_http_requests_total",
    "hark_http_request_duration_seconds",
    "hark_http_requests_in_flight",
    "hark_errors_total",
    "hark_audio_seconds_total",
    "hark_inference_seconds",
    "hark_realtime_factor",
    "hark_queue_depth",
    "hark_queue_capacity",
    "hark_inference_running",
    "hark_model_load_seconds",
    "hark_model_ready",
]


@pytest.fixture(scope="module")
def server(test_models: Path) -> Server:
    return main_server(test_models)


def sample(metrics: str, name: str, labels: str = "") -> float:
    match = re.search(rf"^{name}{re.escape(labels)} (\S+)$", metrics, flags=re.M)
    return float(match.group(1)) if match else 0.0


def test_32_concurrent_uploads(server: Server, shared_audio: Path) -> None:
    """Every upload answered, each with its own file's result (distinct durations)."""
    source = shared_audio / "librispeech" / "1089-134686-0000.flac"
    durations = [round(1.0 + 0.1 * i, 1) for i in range(32)]
    clips = {d: clip(source, d, offset=0.5) for d in durations}
    ok = '{method="POST",route="/asr",status="200"}'
    with server.client() as client:
        before = client.get("/metrics").text

    def upload(duration: float) -> tuple[float, int, float]:
        with server.client() as client:
            r = client.post(
                "/asr",
                params={**FAST, "output": "json"},
                files={"file": (f"{duration}.wav", clips[duration], "audio/wav")},
            )
        return duration, r.status_code, r.json().get("duration", -1.0)

    with ThreadPoolExecutor(max_workers=32) as pool:
        results = list(pool.map(upload, durations))
    assert [status for _, status, _ in results] == [200] * 32
    for sent, _, got in results:
        assert got == pytest.approx(sent, abs=0.002)
    with server.client() as client:
        after = client.get("/metrics").text
    assert sample(after, "hark_http_requests_total", ok) - sample(
        before, "hark_http_requests_total", ok
    ) == pytest.approx(32)
    audio = '{task="transcribe"}'
    processed = sample(after, "hark_audio_seconds_total", audio) - sample(
        before, "hark_audio_seconds_total", audio
    )
    assert processed == pytest.approx(sum(durations), abs=0.1)


def test_probes_stay_fast_while_inference_runs(server: Server, shared_audio: Path) -> None:
    slow = clip(shared_audio / "jfk.flac", 19.0)
    params = {**FAST, "chunk_size": "1", "batch_size": "1", "beam_size": "5"}
    params["max_new_tokens"] = "64"
    with server.client(timeout=5) as client:
        busy = open_request(server, "/asr", slow, "audio/wav", params=params)
        try:
            wait_for(lambda: client.get("/ready").json()["queue"]["running"] == 1)
            slowest = 0.0
            for _ in range(5):
                for path in ("/health", "/ready", "/metrics"):
                    started = time.perf_counter()
                    assert client.get(path).status_code == 200
                    slowest = max(slowest, time.perf_counter() - started)
            assert client.get("/ready").json()["queue"]["running"] == 1  # still decoding
            assert "hark_inference_running 1.0" in client.get("/metrics").text
        finally:
            busy.close()  # hanging up stops the job
        wait_for(lambda: client.get("/ready").json()["queue"]["running"] == 0)
    assert slowest < 1.0


def test_metrics_pass_promtool(server: Server, shared_audio: Path) -> None:
    with server.client() as client:
        client.post("/asr", params=FAST, files={"file": ("a.txt", b"not audio")})
        client.get("/no/such/route")
        r = client.get("/metrics")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/plain; version=0.0.4")
    for name in METRICS:
        assert f"# TYPE {name} " in r.text, name
    assert sample(r.text, "hark_model_ready") == 1.0
    assert sample(r.text, "hark_errors_total", '{code="not_audio"}') >= 1
    assert 'route="unmatched"' in r.text and "/no/such/route" not in r.text
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.skip("promtool not installed (Debian package prometheus)")
    check = subprocess.run(
        [promtool, "check", "metrics"], input=r.content, capture_output=True, timeout=60
    )
    assert check.returncode == 0, check.stdout + check.stderr
    assert not (check.stdout + check.stderr).strip()


def test_health_and_ready(server: Server) -> None:
    with httpx.Client(base_url=server.url, timeout=10) as client:
        health = client.get("/health")
        ready = client.get("/ready")
    assert health.json()["status"] == "ok"
    body = ready.json()
    assert body["status"] == "ready"
    assert body["model"]["device"] == "cpu" and body["model"]["load_seconds"] > 0
    assert body["queue"]["capacity"] == 64
