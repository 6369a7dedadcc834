"""Helpers for the jobs tests: job servers with their own data dir, a real redis-server, and
a slow job (so that a test can act while it runs). Loopback only."""

from __future__ import annotations

import base64
import os
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from helpers import FIXED
from support_server import FAST, Server, clip, free_port, running_process, shared_server

# FAST as a job's JSON input (the same options, typed).
FAST_INPUT: dict[str, Any] = {"language": "en", **FIXED, "max_new_tokens": 8}
# Many 1-s chunks decoded one at a time with a wide beam: seconds of work on the tiny model.
SLOW_INPUT: dict[str, Any] = {
    **FAST_INPUT,
    "chunk_size": 1,
    "batch_size": 1,
    "beam_size": 5,
    "max_new_tokens": 64,
}
FINAL = ("COMPLETED", "FAILED", "CANCELLED", "TIMED_OUT")
_count = 0

__all__ = ["FAST", "FAST_INPUT", "SLOW_INPUT", "Server", "clip"]


def job_server(
    test_models: Path, data_dir: Path, env: dict[str, str] | None = None, name: str | None = None
) -> Server:
    """A fresh server (or the running one called `name`) keeping its jobs in `data_dir`."""
    global _count
    _count += 1
    full = {
        "HARK_DATA_DIR": str(data_dir),
        "HARK_JOB_LEASE_S": "2",
        "HARK_ALLOW_PRIVATE_URLS": "true",
        "HARK_CPU_THREADS": "1",
        **(env or {}),
    }
    return shared_server(name or f"jobs-{_count}", test_models, full)


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def submit(client: httpx.Client, input: dict[str, Any], **extra: Any) -> str:
    r = client.post("/run", json={"input": input, **extra})
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "IN_QUEUE", r.json()
    return str(r.json()["id"])


def status(client: httpx.Client, job_id: str) -> dict[str, Any]:
    r = client.get(f"/status/{job_id}")
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


def wait_status(
    client: httpx.Client, job_id: str, wanted: tuple[str, ...] = FINAL, timeout: float = 90.0
) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        body = status(client, job_id)
        if body["status"] in wanted:
            return body
        assert time.monotonic() < deadline, body
        time.sleep(0.1)


def kill9(server: Server) -> None:
    server.process.kill()
    server.process.wait(10)


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real redis-server on a free loopback port, no persistence."""
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.fail(
            "redis-server not installed (Debian package redis-server; make test installs it)"
        )
    port = free_port()
    workdir = tmp_path_factory.mktemp("redis")
    import redis

    client = redis.Redis(port=port)

    def ping() -> bool:
        try:
            return bool(client.ping())
        except redis.ConnectionError:
            return False

    cmd = [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
    with running_process(
        cmd,
        env=dict(os.environ),
        cwd=workdir,
        log_path=workdir / "redis.log",
        ready=ping,
        timeout=20,
        interval=0.05,
        stop_timeout=10,
    ):
        yield f"redis://127.0.0.1:{port}/0"
