"""No acknowledged job is lost: kill -9 and restart (SQLite), kill -9 one of two replicas
sharing a real Redis, and SIGTERM (finish or hand back within the grace period)."""

from __future__ import annotations

import signal
import time
from pathlib import Path

import pytest

from test_jobs_support import (
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
