"""The RunPod-compatible jobs API on a real `hark serve` (SQLite store): round trips, runsync,
progress, cancel, timeout, retry, webhooks with retries and a signature, retention, 100 jobs."""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import httpx
import pytest

from hark.jobs.webhook import SIGNATURE_HEADER, verify_signature
from support_jobs import (
    FAST_INPUT,
    SLOW_INPUT,
    Server,
    b64,
    clip,
    job_server,
    status,
    submit,
    wait_status,
)

SECRET = "whsec-test"


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("jobs-api")


@pytest.fixture(scope="module")
def server(test_models: Path, data_dir: Path) -> Server:
    env = {
        "HARK_WEBHOOK_SECRET": SECRET,
        "HARK_WEBHOOK_BACKOFF_S": "0.2",
        "HARK_JOB_WORKERS": "4",
        "HARK_JOB_RETENTION_S": "30",
    }
    return job_server(test_models, data_dir, env, name="jobs-api")


@pytest.fixture(scope="module")
def client(server: Server) -> Iterator[httpx.Client]:
    with server.client(timeout=60) as c:
        yield c


@pytest.fixture(scope="module")
def jfk(shared_audio: Path) -> str:
    return b64((shared_audio / "jfk.flac").read_bytes())


@pytest.fixture(scope="module")
def slow(shared_audio: Path) -> str:
    return b64(clip(shared_audio / "jfk.flac", 6.0))


@pytest.fixture(scope="module")
def finished(client: httpx.Client, jfk: str) -> dict[str, Any]:
    """One job run to the end (module-wide: the retention test waits for it to be purged)."""
    job_id = submit(client, {"audio_base_64": jfk, "output_formats": ["srt", "txt"], **FAST_INPUT})
    return wait_status(client, job_id)


def test_run_status_round_trip(
    client: httpx.Client, finished: dict[str, Any], data_dir: Path
) -> None:
    done, job_id = finished, finished["id"]
    assert done["status"] == "COMPLETED", done
    output = done["output"]
    assert {"segments", "word_segments", "language", "duration", "srt", "txt"} == set(output)
    assert output["language"] == "en" and output["srt"].startswith("1\n")
    assert isinstance(done["delayTime"], int) and isinstance(done["executionTime"], int)
    assert client.post(f"/status/{job_id}").json()["output"] == output  # POST, as RunPod
    with sqlite3.connect(data_dir / "jobs.db") as db:  # the uploaded audio is gone
        (audio,) = db.execute("SELECT audio FROM jobs WHERE id = ?", (job_id,)).fetchone()
    assert audio is None
    health = client.get("/health").json()
    assert health["status"] == "ok" and health["jobs"]["completed"] >= 1
    assert set(health["workers"]) == {"idle", "running"}


def test_runsync_and_errors(client: httpx.Client, jfk: str, slow: str) -> None:
    done = client.post("/runsync", json={"input": {"audio_base64": jfk, **FAST_INPUT}}).json()
    assert done["status"] == "COMPLETED" and done["output"]["word_segments"], done
    bad = client.post("/runsync", json={"input": {"audio_base_64": jfk, "diarise": True}}).json()
    assert bad["status"] == "FAILED" and "unknown input option 'diarise'" in bad["error"]
    pending = client.post(
        "/runsync", params={"wait": 1000}, json={"input": {"audio_base_64": slow, **SLOW_INPUT}}
    ).json()
    assert set(pending) == {"id", "status"} and pending["status"] in ("IN_QUEUE", "IN_PROGRESS")
    client.post(f"/cancel/{pending['id']}")
    for body in (b"not json", b'{"inputs": {}}', b'{"input": {}, "webhook": "ftp://x"}'):
        r = client.post("/run", content=body, headers={"content-type": "application/json"})
        assert r.status_code == 400 and r.json()["error"]["code"] == "invalid_body", r.text
    missing = client.get("/status/nope")
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "job_not_found"


def test_progress_then_cancel_running_and_queued(client: httpx.Client, slow: str) -> None:
    ids = [submit(client, {"audio_base_64": slow, **SLOW_INPUT}) for _ in range(5)]
    last = ids[-1]  # 4 workers: the fifth waits
    assert client.post(f"/cancel/{last}").json() == {"id": last, "status": "CANCELLED"}
    running = wait_status(client, ids[0], ("IN_PROGRESS",))
    assert running["workerId"] and "delayTime" in running
    deadline = time.monotonic() + 60
    while "progress" not in (body := status(client, ids[0])) and body["status"] == "IN_PROGRESS":
        assert time.monotonic() < deadline
        time.sleep(0.2)
    # Seconds of work in many chunks: it reports progress long before it ends (and the cancel
    # below relies on it still running).
    assert body["status"] == "IN_PROGRESS" and "progress" in body, body
    assert body["output"] == body["progress"] and 0 <= body["progress"]["percent"] <= 100
    for job_id in ids[:-1]:
        client.post(f"/cancel/{job_id}")
    for job_id in ids:
        assert wait_status(client, job_id, timeout=60)["status"] in ("CANCELLED", "COMPLETED")
    assert status(client, ids[0])["status"] == "CANCELLED"  # stopped, not finished
    again = client.post(f"/retry/{last}")
    assert again.status_code == 409 and again.json()["error"]["code"] == "not_retryable"


def test_timeout_and_retry(client: httpx.Client, slow: str) -> None:
    body = {"input": {"audio_base_64": slow, **SLOW_INPUT}, "policy": {"executionTimeout": 1000}}
    job_id = client.post("/run", json=body).json()["id"]
    timed_out = wait_status(client, job_id, timeout=60)
    assert timed_out["status"] == "TIMED_OUT" and "1 s limit" in timed_out["error"]
    retried = client.post(f"/retry/{job_id}").json()
    assert retried == {"id": job_id, "status": "IN_QUEUE"}
    assert wait_status(client, job_id, timeout=60)["status"] == "TIMED_OUT"  # same input again


class _Receiver(BaseHTTPRequestHandler):
    calls: ClassVar[list[tuple[bytes, dict[str, str]]]] = []
    failures = 2

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["content-length"]))
        type(self).calls.append((body, dict(self.headers)))
        ok = len(type(self).calls) > type(self).failures
        self.send_response(200 if ok else 503)
        self.end_headers()

    def log_message(self, *_args: Any) -> None:
        pass


def test_webhook_retries_until_delivered_and_is_signed(client: httpx.Client, jfk: str) -> None:
    receiver = ThreadingHTTPServer(("127.0.0.1", 0), _Receiver)
    threading.Thread(target=receiver.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{receiver.server_address[1]}/hook"
    try:
        job_id = submit(client, {"audio_base_64": jfk, **FAST_INPUT}, webhook=url)
        deadline = time.monotonic() + 60
        while len(_Receiver.calls) < 3:
            assert time.monotonic() < deadline, _Receiver.calls
            time.sleep(0.1)
    finally:
        receiver.shutdown()
    body, headers = _Receiver.calls[-1]
    job = json.loads(body)
    assert job["id"] == job_id and job["status"] == "COMPLETED" and job["output"]["segments"]
    assert verify_signature(SECRET, body, headers[SIGNATURE_HEADER])
    assert [h["X-Hark-Attempt"] for _, h in _Receiver.calls] == ["1", "2", "3"]


def test_hundred_jobs_at_once(client: httpx.Client, shared_audio: Path) -> None:
    audio = b64(clip(shared_audio / "jfk.flac", 2.0, offset=1.0))
    body = {"audio_base_64": audio, **FAST_INPUT, "word_timestamps": False}
    with ThreadPoolExecutor(16) as pool:
        ids = list(pool.map(lambda _i: submit(client, body), range(100)))
    assert len(set(ids)) == 100
    for job_id in ids:
        assert wait_status(client, job_id, timeout=180)["status"] == "COMPLETED"


class _AudioFile(BaseHTTPRequestHandler):
    data: ClassVar[bytes] = b""

    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Length", str(len(self.data)))
        self.end_headers()
        self.wfile.write(self.data)

    def log_message(self, *_args: Any) -> None:
        pass


def test_a_linked_job_runs_the_downloaded_audio(
    client: httpx.Client, finished: dict[str, Any], shared_audio: Path
) -> None:
    # The worker downloads the link with the one fetcher, into a spooled file, and transcribes
    # that file: the same audio as `finished`, sent inline, so the same duration.
    _AudioFile.data = (shared_audio / "jfk.flac").read_bytes()
    host = ThreadingHTTPServer(("127.0.0.1", 0), _AudioFile)
    threading.Thread(target=host.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{host.server_address[1]}/jfk.flac"
        job_id = submit(client, {"audio_url": url, "output_formats": ["txt"], **FAST_INPUT})
        done = wait_status(client, job_id)
    finally:
        host.shutdown()
    assert done["status"] == "COMPLETED", done
    assert done["output"]["duration"] == finished["output"]["duration"]
    assert done["output"]["segments"] and done["output"]["txt"]


def test_failed_download_then_retention_purge(
    client: httpx.Client, finished: dict[str, Any]
) -> None:
    job_id = submit(client, {"audio_url": "http://127.0.0.1:9/missing.wav", **FAST_INPUT})
    failed = wait_status(client, job_id)
    assert failed["status"] == "FAILED" and "audio_url" in failed["error"]
    deadline = time.monotonic() + 60  # retention 30 s, purged within a quarter of it after
    while client.get(f"/status/{finished['id']}").status_code != 404:
        assert time.monotonic() < deadline, "not purged"
        time.sleep(0.5)


def scrape(client: httpx.Client) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    from prometheus_client.parser import text_string_to_metric_families

    text = client.get("/metrics").text
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def test_job_metrics(client: httpx.Client, jfk: str) -> None:
    before = scrape(client)
    done = ("hark_jobs_finished_total", (("status", "completed"),))
    ran = ("hark_job_execution_seconds_count", (("status", "completed"),))
    job_id = submit(client, {"audio_base_64": jfk, **FAST_INPUT})
    assert wait_status(client, job_id)["status"] == "COMPLETED"
    after = scrape(client)
    assert after[("hark_job_store_up", ())] == 1
    assert after[done] == before.get(done, 0) + 1
    assert after[ran] == before.get(ran, 0) + 1
    assert after[("hark_job_delay_seconds_count", ())] >= 1
    assert after[("hark_jobs_queued", ())] >= 0 and after[("hark_jobs_running", ())] >= 0
    assert ("hark_jobs_retried_total", ()) in after


def test_unreadable_job_store_does_not_break_metrics() -> None:
    from prometheus_client.parser import text_string_to_metric_families

    from hark.server.metrics import Metrics

    def broken() -> dict[str, int]:
        raise ConnectionError("redis is down")

    metrics = Metrics()
    metrics.watch_job_store(broken)
    names = {f.name: f for f in text_string_to_metric_families(metrics.render().decode())}
    assert names["hark_job_store_up"].samples[0].value == 0
    assert "hark_jobs_queued" not in names
    healthy = Metrics()
    healthy.watch_job_store(lambda: {"inQueue": 3, "inProgress": 1, "completed": 7})
    names = {f.name: f for f in text_string_to_metric_families(healthy.render().decode())}
    assert names["hark_jobs_queued"].samples[0].value == 3
    assert {s.labels["status"]: s.value for s in names["hark_jobs_finished"].samples} == {
        "completed": 7,
        "failed": 0,
        "cancelled": 0,
    }


def test_idempotency_key_makes_a_retried_run_one_job(client: httpx.Client, jfk: str) -> None:
    body = {"input": {"audio_base_64": jfk, **FAST_INPUT}}
    headers = {"Idempotency-Key": "c1b9a1d2-retry-test"}
    first = client.post("/run", json=body, headers=headers)
    again = client.post("/run", json=body, headers=headers)  # the answer was lost: retry
    assert first.status_code == again.status_code == 200, again.text
    assert again.json()["id"] == first.json()["id"]
    done = client.post("/runsync", json=body, headers=headers).json()  # same key, waits
    assert done["id"] == first.json()["id"] and done["status"] == "COMPLETED", done
    other = {"input": {"audio_base_64": jfk, **FAST_INPUT, "beam_size": 2}}
    conflict = client.post("/run", json=other, headers=headers)
    assert conflict.status_code == 422, conflict.text
    assert conflict.json()["error"]["code"] == "idempotency_conflict"
    assert first.json()["id"] in conflict.json()["error"]["message"]
    for bad in (b"", b"x" * 256, "naïve".encode()):
        r = client.post("/run", json=body, headers={"Idempotency-Key": bad})
        assert r.status_code == 400, (bad, r.text)
        assert r.json()["error"]["code"] == "invalid_idempotency_key"
    fresh = client.post("/run", json=body).json()  # no key: a new job every time
    assert fresh["id"] != first.json()["id"]
