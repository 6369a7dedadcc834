"""Helpers for the HTTP API tests: real `hark serve` processes on 127.0.0.1, and test audio.

Servers are started once per test session per configuration (starting one costs the Python
imports and the model load, ~3 s) and stopped at exit. Nothing here talks to the internet.
"""

from __future__ import annotations

import atexit
import contextlib
import io
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import wave
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import numpy as np
import pytest

from helpers import FIXED

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Playwright


def _text(value: Any) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def as_query(options: dict[str, Any]) -> dict[str, str]:
    """Decoding options (helpers.FIXED's form) as /asr query parameters: lists comma-joined."""
    return {
        key: ",".join(map(_text, value)) if isinstance(value, list) else _text(value)
        for key, value in options.items()
    }


# helpers.FIXED (random weights still yield words) as query parameters, with a shorter cap so
# every request over HTTP costs about the same.
FAST = as_query({"language": "en", **FIXED, "max_new_tokens": 8})

_SERVERS: dict[str, Server] = {}

CHROMIUM = Path(os.environ.get("HARK_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def launch_chromium(playwright: Playwright, *extra_args: str) -> Browser:
    """Headless Chromium (`HARK_CHROMIUM`, else the one on PATH) with no background traffic."""
    return playwright.chromium.launch(
        executable_path=str(CHROMIUM), args=[*CHROMIUM_ARGS, *extra_args]
    )


@dataclass
class Server:
    url: str
    process: subprocess.Popen[bytes]
    log: Path
    headers: dict[str, str] = field(default_factory=dict)

    def client(self, timeout: float = 120.0, **kwargs: object) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=timeout, headers=self.headers, **kwargs)  # type: ignore[arg-type]

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")

    def stop(self) -> None:
        stop_process(self.process, signal.SIGINT)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def http_probe(
    url: str,
    ok: Callable[[httpx.Response], bool] = lambda r: r.status_code == 200,
    headers: dict[str, str] | None = None,
) -> Callable[[], bool]:
    """A readiness check: GET `url` (loopback, no proxy) and judge the answer with `ok`."""

    def probe() -> bool:
        try:
            return ok(httpx.get(url, timeout=2.0, headers=headers, trust_env=False))
        except httpx.HTTPError:
            return False

    return probe


def start_process(
    cmd: Sequence[str], *, env: dict[str, str], log_path: Path, cwd: Path | None = None
) -> subprocess.Popen[bytes]:
    """`cmd` in the background, stdout and stderr into `log_path`."""
    with log_path.open("wb") as log:
        return subprocess.Popen(cmd, env=env, cwd=cwd, stdout=log, stderr=subprocess.STDOUT)


def wait_until_ready(
    process: subprocess.Popen[bytes],
    ready: Callable[[], bool],
    *,
    log_path: Path,
    timeout: float,
    interval: float = 0.1,
) -> None:
    """Poll `ready` until true; fail with the log if `process` exits or `timeout` passes."""
    deadline = time.monotonic() + timeout
    while True:
        if process.poll() is not None:
            log = log_path.read_text(errors="replace")
            pytest.fail(f"{process.args[0]} exited with {process.returncode}:\n{log}")
        if ready():
            return
        if time.monotonic() > deadline:
            log = log_path.read_text(errors="replace")
            pytest.fail(f"{process.args[0]} not ready after {timeout} s:\n{log}")
        time.sleep(interval)


def stop_process(
    process: subprocess.Popen[bytes], sig: int = signal.SIGTERM, timeout: float = 15
) -> None:
    """Send `sig` and wait up to `timeout` s, then kill."""
    if process.poll() is None:
        process.send_signal(sig)
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@contextlib.contextmanager
def running_process(
    cmd: Sequence[str],
    *,
    env: dict[str, str],
    log_path: Path,
    ready: Callable[[], bool],
    timeout: float,
    interval: float = 0.1,
    cwd: Path | None = None,
    stop_timeout: float = 15,
) -> Iterator[subprocess.Popen[bytes]]:
    """`cmd` running (see `start_process`) once `ready` holds; terminated on exit."""
    process = start_process(cmd, env=env, log_path=log_path, cwd=cwd)
    try:
        wait_until_ready(process, ready, log_path=log_path, timeout=timeout, interval=interval)
        yield process
    finally:
        stop_process(process, timeout=stop_timeout)


def shared_server(
    name: str,
    model_dir: Path,
    env: dict[str, str] | None = None,
    args: list[str] | None = None,
    headers: dict[str, str] | None = None,
    wait_ready: bool = True,
) -> Server:
    """The session's server called `name`, started on first use with `env` and CLI `args`;
    returned once /ready answers 200 (or, without `wait_ready`, once /health answers)."""
    if name in _SERVERS and _SERVERS[name].process.poll() is None:
        return _SERVERS[name]
    port = free_port()
    log = Path(tempfile.mkdtemp(prefix=f"hark-server-{name}-")) / "server.log"
    full_env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("HARK_")},
        "HARK_MODEL": str(model_dir / "whisper-tiny"),
        "HARK_DEVICE": "cpu",
        "HARK_LOCAL_FILES_ONLY": "1",
        "HARK_LOG_LEVEL": "warning",
        # `auto` times a 30 s encoding at start-up, and the test model's lies near the line:
        # one choice, whatever the machine (auto: test_server_startup; full: test_live_server).
        "HARK_LIVE_FINAL_INPUT": "short",
        "NO_PROXY": "*",
        **(env or {}),
    }
    cmd = [sys.executable, "-m", "hark.cli", "serve", "--host", "127.0.0.1", "--port", str(port)]
    process = start_process([*cmd, *(args or [])], env=full_env, log_path=log)
    server = Server(f"http://127.0.0.1:{port}", process, log, dict(headers or {}))
    atexit.register(server.stop)
    if wait_ready:
        probe = http_probe(f"{server.url}/ready", headers=server.headers)
    else:
        probe = http_probe(f"{server.url}/health", ok=lambda r: True, headers=server.headers)
    try:
        wait_until_ready(process, probe, log_path=log, timeout=120.0)
    except BaseException:
        server.stop()
        raise
    _SERVERS[name] = server
    return server


def wav_bytes(samples: np.ndarray, rate: int = 16000) -> bytes:
    pcm = (np.clip(samples, -1, 1) * 32767).astype("<i2")
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(pcm.tobytes())
    return buf.getvalue()


def clip(path: Path, seconds: float, offset: float = 0.0) -> bytes:
    """`seconds` of `path` from `offset` as a 16 kHz mono WAV (looped if the file is short)."""
    from hark.audio import load_audio

    audio = load_audio(path)
    start, n = int(offset * 16000), int(seconds * 16000)
    reps = int(np.ceil((start + n) / audio.size))
    return wav_bytes(np.tile(audio, reps)[start : start + n])


def wait_for(condition: Callable[[], bool], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.05)
    raise AssertionError(f"condition not met within {timeout} s")


def open_request(
    server: Server,
    path: str,
    body: bytes,
    content_type: str,
    *,
    params: dict[str, str] | None = None,
    chunked: bool = False,
    close: bool = False,
) -> socket.socket:
    """Send a whole request on a plain socket and return the socket, so that a test can read
    the answer itself or hang up while the server works on it."""
    url = httpx.URL(server.url)
    target = str(httpx.URL(path, params=params or {}))
    head = [f"POST {target} HTTP/1.1", f"Host: {url.host}", f"Content-Type: {content_type}"]
    head += [f"{k}: {v}" for k, v in server.headers.items()]
    if close:
        head.append("Connection: close")
    if chunked:
        head.append("Transfer-Encoding: chunked")
        step = 64 * 1024
        parts = [body[i : i + step] for i in range(0, len(body), step)]
        payload = b"".join(b"%x\r\n%s\r\n" % (len(p), p) for p in parts) + b"0\r\n\r\n"
    else:
        head.append(f"Content-Length: {len(body)}")
        payload = body
    sock = socket.create_connection((url.host, url.port))
    # The server may answer and close before taking the whole body.
    with contextlib.suppress(OSError):
        sock.sendall("\r\n".join(head).encode() + b"\r\n\r\n" + payload)
    return sock


def raw_request(server: Server, path: str, body: bytes, content_type: str, **kw: Any) -> bytes:
    """Whatever the server answered, even when it closed before reading the whole body."""
    sock = open_request(server, path, body, content_type, close=True, **kw)
    sock.settimeout(30)
    answer = b""
    with sock, contextlib.suppress(OSError):
        while chunk := sock.recv(65536):
            answer += chunk
    return answer
