"""Issue 13 over HTTP: the probe's hostile requests, each answered quickly with a small, clear
error, and nothing of the server's files, keys or other callers' jobs leaking out."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest

from support_jobs import FAST_INPUT, b64, job_server, wait_status
from support_server import FAST, Server, clip, shared_server, wait_for, wav_bytes
from test_server_limits import strict_server

ALICE, BOB = "sk-alice-0123456789", "sk-bob-9876543210"


@pytest.fixture(scope="module")
def strict(test_models: Path) -> Server:
    return strict_server(test_models)


@pytest.fixture(scope="module")
def short(shared_audio: Path) -> bytes:
    return (shared_audio / "librispeech" / "1089-134686-0001.flac").read_bytes()


def error_of(r: httpx.Response, status: int, code: str) -> str:
    assert r.status_code == status, r.text
    assert len(r.content) < 4096, "error bodies stay small"
    body = r.json()
    assert set(body) == {"error"} and body["error"]["code"] == code, body
    return str(body["error"]["message"])


@pytest.mark.parametrize(
    ("params", "named"),
    [
        ({"speech_pad_ms": "15000"}, ["speech_pad_ms"]),
        ({"chunk_size": "1", "speech_pad_ms": "500"}, ["speech_pad_ms", "chunk_size"]),
        ({"suppress_tokens": "50257", "max_new_tokens": ""}, ["suppress_tokens"]),
        ({"patience": "1000"}, ["patience"]),
        ({"patience": "inf"}, ["patience"]),
        ({"patience": "1e308"}, ["patience"]),
        ({"temperature": "nan"}, ["temperature"]),
        ({"length_penalty": "inf"}, ["length_penalty"]),
        ({"log_prob_threshold": "nan"}, ["log_prob_threshold"]),
        ({"compression_ratio_threshold": "nan"}, ["compression_ratio_threshold"]),
        ({"vad_onset": "nan"}, ["vad_onset", "finite"]),
        ({"max_cue_duration": "inf"}, ["max_cue_duration"]),
        ({"min_cue_duration": "nan"}, ["min_cue_duration"]),
        ({"pause_split": "nan"}, ["pause_split"]),
    ],
)
def test_unbounded_options_are_refused_up_front(
    strict: Server, short: bytes, params: dict[str, str], named: list[str]
) -> None:
    started = time.monotonic()
    with strict.client(timeout=30) as client:
        r = client.post("/asr", params={**FAST, **params}, files={"file": ("a.flac", short)})
    message = error_of(r, 422, "invalid_parameter")
    for name in named:
        assert name in message
    assert time.monotonic() - started < 10


@pytest.mark.parametrize("value", ["/etc/passwd", "/nonexistent/model.onnx", "../../etc/shadow"])
def test_model_options_cannot_name_server_files(strict: Server, short: bytes, value: str) -> None:
    answers = set()
    with strict.client(timeout=30) as client:
        for field in ("diarize_model", "embedding_model", "align_model"):
            r = client.post(
                "/asr",
                params={**FAST, "diarize": "true", field: value},
                files={"file": ("a.flac", short)},
            )
            message = error_of(r, 422, "invalid_parameter")
            assert value not in message
            answers.add(message.removeprefix(field))
        job = client.post("/runsync", json={"input": {**FAST_INPUT, "diarize_model": value}})
    assert len(answers) == 1  # one answer, whether the file exists or not
    assert job.status_code == 200 and job.json()["status"] == "FAILED"
    assert value not in job.json()["error"]


def test_deep_and_huge_bodies_are_refused_fast(strict: Server) -> None:
    deep = b"[" * 200_000 + b"]" * 200_000
    many_keys = {f"k{i}": 1 for i in range(60_000)}
    started = time.monotonic()
    with strict.client(timeout=30) as client:
        asr = client.post("/asr", content=deep, headers={"content-type": "application/json"})
        run = client.post(
            "/run",
            content=b'{"input": ' + deep + b"}",
            headers={"content-type": "application/json"},
        )
        keys = client.post("/runsync", json={"input": many_keys})
        png = client.post("/asr", content=b"\x89PNG\r\n\x1a\n" + b"0" * 64,
                          headers={"content-type": "image/png"})  # fmt: skip
        long_id = client.get("/status/" + "x" * 10_000)
    assert "deeply" in error_of(asr, 400, "invalid_body")
    assert "deeply" in error_of(run, 400, "invalid_body")
    assert keys.status_code == 200 and keys.json()["status"] == "FAILED"
    assert len(keys.json()["error"]) <= 2000 and "60000 keys" in keys.json()["error"]
    assert "image/png" in error_of(png, 415, "unsupported_media_type")
    assert len(error_of(long_id, 404, "job_not_found")) < 200
    assert time.monotonic() - started < 20


@pytest.mark.parametrize(
    "url",
    [
        "http://[64:ff9b::7f00:1]:9/a.wav",  # NAT64
        "http://[2002:7f00:1::1]:9/a.wav",  # 6to4
        "http://[::7f00:1]:9/a.wav",  # IPv4-compatible
        "http://[::ffff:127.0.0.1]:9/a.wav",  # IPv4-mapped
        "http://[2001:0:4136:e378:8000:63bf:3fff:fdd2]:9/a.wav",  # Teredo
    ],
)
def test_embedded_ipv4_audio_urls_are_refused(strict: Server, url: str) -> None:
    with strict.client(timeout=30) as client:
        r = client.post("/asr", data={"audio_url": url})
        job = client.post("/run", json={"input": {"audio_url": url}, "webhook": url})
    assert "non-public" in error_of(r, 400, "audio_url_failed")
    assert "non-public" in error_of(job, 400, "invalid_body")  # the webhook is checked first


# -- a server with named keys, a short request deadline and a models directory -----------------


@pytest.fixture(scope="module")
def guarded(test_models: Path, tmp_path_factory: pytest.TempPathFactory) -> Server:
    env = {
        "HARK_API_KEYS": f"alice:{ALICE},bob:{BOB}",
        "HARK_MODELS_DIR": str(test_models),
        "HARK_CONCURRENCY": "1",
        "HARK_JOB_WORKERS": "1",
        "HARK_OPEN_METRICS": "true",
    }
    return job_server(test_models, tmp_path_factory.mktemp("guarded"), env, name="guarded")


def _as(server: Server, key: str) -> httpx.Client:
    return httpx.Client(base_url=server.url, timeout=60, headers={"Authorization": f"Bearer {key}"})


def test_jobs_belong_to_their_key(guarded: Server, shared_audio: Path) -> None:
    audio = b64((shared_audio / "jfk.flac").read_bytes())
    with _as(guarded, ALICE) as alice, _as(guarded, BOB) as bob:
        job_id = alice.post("/run", json={"input": {**FAST_INPUT, "audio_base_64": audio}}).json()[
            "id"
        ]
        mine = wait_status(alice, job_id)
        theirs = [
            bob.get(f"/status/{job_id}"),
            bob.post(f"/status/{job_id}"),
            bob.post(f"/cancel/{job_id}"),
            bob.post(f"/retry/{job_id}"),
        ]
        unknown = bob.get("/status/00000000-0000-0000-0000-000000000000-h1")
        metrics = alice.get("/metrics").text
    assert mine["status"] == "COMPLETED"
    expected = error_of(unknown, 404, "job_not_found").replace(
        "00000000-0000-0000-0000-000000000000-h1", job_id
    )
    for r in theirs:
        assert error_of(r, 404, "job_not_found") == expected  # as unknown as a missing job
    for text in (metrics, guarded.log_text()):
        assert ALICE not in text and BOB not in text
    assert 'hark_api_key_requests_total{key="alice"}' in metrics
    assert 'hark_api_key_requests_total{key="bob"}' in metrics


def test_request_deadline_stops_the_work_and_frees_the_slot(
    test_models: Path, shared_audio: Path
) -> None:
    env = {"HARK_REQUEST_TIMEOUT_S": "3", "HARK_CONCURRENCY": "1", "HARK_JOB_WORKERS": "0"}
    server = shared_server("deadline", test_models, env)
    slow = clip(shared_audio / "jfk.flac", 60.0)  # many 1 s chunks decoded one at a time
    quick = wav_bytes(np.zeros(32000, dtype=np.float32))  # silence: VAD only, no decoding
    params = {**FAST, "chunk_size": "1", "batch_size": "1", "beam_size": "5",
              "max_new_tokens": "64"}  # fmt: skip
    with server.client(timeout=60) as client:
        started = time.monotonic()
        r = client.post("/asr", params=params, files={"file": ("slow.wav", slow)})
        took = time.monotonic() - started
        assert "HARK_REQUEST_TIMEOUT_S" in error_of(r, 504, "deadline_exceeded")
        wait_for(lambda: client.get("/ready").json()["queue"]["running"] == 0, timeout=30)
        again = client.post("/asr", params=FAST, files={"file": ("a.wav", quick)})
    assert took < 30, took
    assert again.status_code == 200, again.text


def test_models_dir_entries_are_usable_by_name(guarded: Server, shared_audio: Path) -> None:
    data = (shared_audio / "jfk.flac").read_bytes()
    with _as(guarded, ALICE) as client:
        named = client.post(
            "/asr",
            params={**FAST, "align_model": "wav2vec2-align-tiny"},
            files={"file": ("jfk.flac", data)},
        )
        nested = client.post(
            "/asr",
            params={**FAST, "diarize": "true", "diarize_model": "speaker-segmentation/model.onnx"},
            files={"file": ("jfk.flac", data)},
        )
    assert named.status_code == 200, named.text
    body: dict[str, Any] = json.loads(named.text)
    assert body["segments"]
    assert "speaker-segmentation" not in error_of(nested, 422, "invalid_parameter")
