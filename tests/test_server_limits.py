"""Limits, API keys and the bounded queue, on a server with small limits and one worker."""

from __future__ import annotations

import re
from pathlib import Path

import httpx
import pytest

from support_server import (
    FAST,
    Server,
    clip,
    open_request,
    raw_request,
    shared_server,
    wait_for,
)

KEY = "s3cret-key-2"


@pytest.fixture(scope="module")
def strict(test_models: Path) -> Server:
    return strict_server(test_models)


def strict_server(test_models: Path) -> Server:
    env = {
        "HARK_API_KEYS": f"s3cret-key-1, {KEY}",
        "HARK_OPEN_METRICS": "false",
        "HARK_MAX_UPLOAD_MB": "1",
        "HARK_MAX_AUDIO_SECONDS": "20",
        "HARK_NUM_WORKERS": "1",
        "HARK_CONCURRENCY": "1",  # one request decoding, one waiting, then 503
        "HARK_QUEUE_SIZE": "1",
        "HARK_URL_TIMEOUT_S": "3",
    }
    return shared_server("strict", test_models, env, headers={"Authorization": f"Bearer {KEY}"})


@pytest.fixture(scope="module")
def short(shared_audio: Path) -> bytes:
    return (shared_audio / "librispeech" / "1089-134686-0001.flac").read_bytes()


def code_of(r: httpx.Response) -> str:
    return str(r.json()["error"]["code"])


def test_api_keys(strict: Server, short: bytes) -> None:
    with httpx.Client(base_url=strict.url, timeout=60) as anonymous:
        missing = anonymous.post("/asr", params=FAST, files={"file": ("a.flac", short)})
        wrong = anonymous.post(
            "/v1/audio/transcriptions",
            data={"model": "whisper-1"},
            files={"file": ("a.flac", short)},
            headers={"Authorization": "Bearer s3cret-key-3"},
        )
        models = anonymous.get("/v1/models", headers={"Authorization": "Basic czNjcmV0"})
        assert anonymous.get("/health").status_code == 200
        assert anonymous.get("/ready").status_code == 200
        assert anonymous.get("/openapi.json").status_code == 200
        assert anonymous.get("/metrics").status_code == 401  # HARK_OPEN_METRICS=false
        first_key = {"Authorization": "Bearer s3cret-key-1"}
        assert anonymous.get("/v1/models", headers=first_key).status_code == 200
    for r in (missing, wrong, models):
        assert r.status_code == 401 and code_of(r) == "unauthorized"
        assert r.headers["www-authenticate"] == "Bearer"
    with strict.client() as client:
        assert client.get("/metrics").status_code == 200
        ok = client.post("/asr", params=FAST, files={"file": ("a.flac", short)})
    assert ok.status_code == 200, ok.text


def test_upload_too_large(strict: Server, shared_audio: Path) -> None:
    big = (shared_audio / "silero_test.wav").read_bytes()  # 1.9 MB > 1 MB
    assert len(big) > 1024 * 1024
    with strict.client() as client:
        declared = client.post("/asr", files={"file": ("big.wav", big)})
        as_json = client.post("/asr", json={"audio": "A" * (3 * 1024 * 1024)})
    assert declared.status_code == 413 and code_of(declared) == "upload_too_large"
    assert "limit of 1.0 MiB" in declared.json()["error"]["message"]
    assert as_json.status_code == 413
    # Without a Content-Length the limit applies while the body streams in.
    chunked = raw_request(strict, "/asr", big, "audio/wav", chunked=True)
    assert chunked.startswith(b"HTTP/1.1 413"), chunked[:200]


def test_audio_too_long(strict: Server, shared_audio: Path) -> None:
    long = (shared_audio / "pyannote" / "sample.wav").read_bytes()  # 30 s > 20 s, < 1 MB
    with strict.client() as client:
        r = client.post("/asr", params=FAST, files={"file": ("long.wav", long)})
        asked = client.post(
            "/asr", params={**FAST, "max_duration": "2"}, files={"file": ("s.wav", long[:200000])}
        )
    assert r.status_code == 413 and code_of(r) == "audio_too_long"
    assert asked.status_code == 413 and code_of(asked) == "audio_too_long"


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:9/a.wav",
        "http://localhost:9/a.wav",
        "http://[::1]:9/a.wav",
        "http://169.254.169.254/latest/meta-data",
        "https://10.1.2.3/a.wav",
    ],
)
def test_private_audio_url_refused(strict: Server, url: str) -> None:
    with strict.client() as client:
        r = client.post("/asr", data={"audio_url": url})
    assert r.status_code == 400 and code_of(r) == "audio_url_failed", r.text
    assert "non-public" in r.json()["error"]["message"]


def test_full_queue_answers_503_then_recovers(
    strict: Server, short: bytes, shared_audio: Path
) -> None:
    """One worker, one queue slot: a third request gets 503; clients that hang up leave the
    queue (or stop their running job), and the server serves again."""
    slow = clip(shared_audio / "jfk.flac", 19.0)  # many 1 s chunks decoded one at a time
    params = {
        **FAST,
        "chunk_size": "1",
        "batch_size": "1",
        "beam_size": "5",
        "max_new_tokens": "64",
    }
    with strict.client() as client:
        running = open_request(strict, "/asr", slow, "audio/wav", params=params)
        wait_for(lambda: queue(client)["running"] == 1)
        waiting = open_request(strict, "/asr", slow, "audio/wav", params=params)
        wait_for(lambda: client.get("/ready").status_code == 503)  # saturated

        full = client.post("/asr", params=FAST, files={"file": ("a.flac", short)})
        assert full.status_code == 503 and code_of(full) == "queue_full"
        assert int(full.headers["retry-after"]) >= 1

        waiting.close()  # leaves the queue at once, while the first job still runs
        wait_for(lambda: queue(client) == {"waiting": 0, "running": 1})
        running.close()  # stops the running job at its next batch
        wait_for(lambda: queue(client)["running"] == 0, timeout=60)

        again = client.post("/asr", params=FAST, files={"file": ("a.flac", short)})
        assert again.status_code == 200, again.text
        metrics = client.get("/metrics").text
    assert counter(metrics, "/asr", "499") >= 2
    assert counter(metrics, "/asr", "503") >= 1
    assert "Traceback" not in strict.log_text()


def queue(client: httpx.Client) -> dict[str, int]:
    r = client.get("/ready")
    if r.status_code != 200:
        return {"waiting": -1, "running": -1}
    body = r.json()["queue"]
    return {"waiting": body["waiting"], "running": body["running"]}


def counter(metrics: str, route: str, status: str) -> float:
    pattern = rf'hark_http_requests_total{{method="POST",route="{route}",status="{status}"}} (\S+)'
    match = re.search(pattern, metrics)
    return float(match.group(1)) if match else 0.0
