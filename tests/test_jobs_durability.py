"""No acknowledged job is lost: kill -9 and restart (SQLite), kill -9 one of two replicas
sharing a real Redis, and SIGTERM (finish or hand back within the grace period). Nor is a
webhook owed for a finished job: kill -9 while it is being retried, and the restarted server
delivers it."""

from __future__ import annotations

import signal
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import pytest

from support_jobs import (
    FAST_INPUT,
    SLOW_INPUT,
    b64,
    clip,
    job_server,
    kill9,
    redis_url,  # noqa: F401  (fixture)
    status,
    submit,
    wait_status,
)


@pytest.fixture(scope="module")
def slow(shared_audio: Path) -> str:
    return b64(clip(shared_audio / "jfk.flac", 6.0))


def test_sqlite_kill9_then_restart_runs_the_job_again(
    test_models: Path, tmp_path: Path, slow: str
) -> None:
    env = {"HARK_JOB_WORKERS": "1"}
    first = job_server(test_models, tmp_path, env)
    with first.client() as client:
        running = submit(client, {"audio_base_64": slow, **SLOW_INPUT})
        queued = submit(client, {"audio_base_64": slow, **FAST_INPUT})
        wait_status(client, running, ("IN_PROGRESS",))
    kill9(first)
    second = job_server(test_models, tmp_path, env)
    with second.client() as client:
        again = wait_status(client, running, timeout=120)
        assert again["status"] == "COMPLETED" and again["retries"] == 1, again
        assert again["output"]["word_segments"]
        assert wait_status(client, queued, timeout=60)["status"] == "COMPLETED"
    second.stop()


def test_redis_replica_killed_mid_job_the_other_finishes_it(
    test_models: Path,
    tmp_path: Path,
    slow: str,
    redis_url: str,  # noqa: F811
) -> None:
    import redis

    redis.Redis.from_url(redis_url).flushdb()
    env = {"HARK_JOB_STORE": redis_url, "HARK_JOB_WORKERS": "1"}
    replicas = [job_server(test_models, tmp_path / f"r{i}", env) for i in range(2)]
    with replicas[0].client() as client:
        job_id = submit(client, {"audio_base_64": slow, **SLOW_INPUT})
        worker = wait_status(client, job_id, ("IN_PROGRESS",))["workerId"]
    pid = int(worker.split(":")[1])
    victim = next(r for r in replicas if r.process.pid == pid)
    survivor = next(r for r in replicas if r is not victim)
    kill9(victim)
    with survivor.client() as client:
        done = wait_status(client, job_id, timeout=120)
        assert done["status"] == "COMPLETED" and done["retries"] == 1, done
        assert done["workerId"] != worker
        assert client.get("/health").json()["jobs"]["inProgress"] == 0
    survivor.stop()


def test_sigterm_finishes_or_hands_back_within_the_grace_period(
    test_models: Path, tmp_path: Path, slow: str
) -> None:
    grace = 4.0
    env = {"HARK_JOB_WORKERS": "1", "HARK_SHUTDOWN_GRACE_S": str(grace)}
    server = job_server(test_models, tmp_path, env)
    long_input = {"audio_base_64": slow, **SLOW_INPUT, "beam_size": 8}
    with server.client() as client:
        running = submit(client, long_input)
        queued = submit(client, {"audio_base_64": slow, **FAST_INPUT})
        wait_status(client, running, ("IN_PROGRESS",))
    started = time.monotonic()
    server.process.send_signal(signal.SIGTERM)
    assert server.process.wait(grace + 5) in (0, -signal.SIGTERM)
    assert time.monotonic() - started < grace + 2, server.log_text()
    restarted = job_server(test_models, tmp_path, env)
    with restarted.client() as client:
        assert status(client, queued)["status"] in ("IN_QUEUE", "IN_PROGRESS", "COMPLETED")
        for job_id in (running, queued):
            done = wait_status(client, job_id, timeout=120)
            assert done["status"] == "COMPLETED", done
            assert "retries" not in done  # handed back cleanly, not counted as a crash
    restarted.stop()


class _Hook(BaseHTTPRequestHandler):
    """A webhook receiver that answers 503 until `accept` is set."""

    accept = False
    calls: ClassVar[list[tuple[str, int]]] = []  # (job id, answer)

    def do_POST(self) -> None:
        import json

        body = json.loads(self.rfile.read(int(self.headers["content-length"])))
        answer = 200 if type(self).accept else 503
        type(self).calls.append((body["id"], answer))
        self.send_response(answer)
        self.end_headers()

    def log_message(self, *_args: Any) -> None:
        pass


def test_kill9_while_a_webhook_is_retried_then_restart_delivers_it(
    test_models: Path, tmp_path: Path, shared_audio: Path
) -> None:
    receiver = ThreadingHTTPServer(("127.0.0.1", 0), _Hook)
    threading.Thread(target=receiver.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{receiver.server_address[1]}/hook"
    # Retries far apart, so the first server is still retrying when it is killed; a short
    # attempt timeout keeps the delivery lease (when another process may take over) short.
    env = {
        "HARK_JOB_WORKERS": "1",
        "HARK_WEBHOOK_ATTEMPTS": "2",
        "HARK_WEBHOOK_BACKOFF_S": "8",
        "HARK_WEBHOOK_TIMEOUT_S": "1",
    }
    audio = b64(clip(shared_audio / "jfk.flac", 3.0))
    try:
        first = job_server(test_models, tmp_path, env)
        with first.client() as client:
            job_id = submit(client, {"audio_base_64": audio, **FAST_INPUT}, webhook=url)
            assert wait_status(client, job_id, timeout=60)["status"] == "COMPLETED"
            deadline = time.monotonic() + 30
            while (job_id, 503) not in _Hook.calls:
                assert time.monotonic() < deadline, _Hook.calls
                time.sleep(0.05)
        kill9(first)  # between its first and second attempt
        _Hook.accept = True
        second = job_server(test_models, tmp_path, env)
        deadline = time.monotonic() + 60
        while (job_id, 200) not in _Hook.calls:
            assert time.monotonic() < deadline, _Hook.calls
            time.sleep(0.1)
        second.stop()
        assert [answer for i, answer in _Hook.calls if i == job_id] == [503, 200]
    finally:
        receiver.shutdown()
