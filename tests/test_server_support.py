"""Helpers for the HTTP API tests: real `hark serve` processes on 127.0.0.1, and test audio.

Servers are started once per test session per configuration (starting one costs the Python
imports and the model load, ~3 s) and stopped at exit. Nothing here talks to the internet.
"""

from __future__ import annotations

import atexit
import contextlib
import io
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import wave
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import numpy as np

EOT = 50257
# Random weights may end a chunk at once: forbid end-of-text and cap the length, so results
# have words and every request costs about the same.
FAST = {
    "language": "en",
    "beam_size": "1",
    "temperature": "0",
    "suppress_tokens": f"-1,{EOT}",
    "max_new_tokens": "8",
}

_SERVERS: dict[str, Server] = {}


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
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


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
        "NO_PROXY": "*",
        **(env or {}),
    }
    cmd = [sys.executable, "-m", "hark.cli", "serve", "--host", "127.0.0.1", "--port", str(port)]
    with log.open("wb") as out:
        process = subprocess.Popen(
            [*cmd, *(args or [])], env=full_env, stdout=out, stderr=subprocess.STDOUT
        )
    server = Server(f"http://127.0.0.1:{port}", process, log, dict(headers or {}))
    atexit.register(server.stop)
    _wait_ready(server, wait_ready)
    _SERVERS[name] = server
    return server


def _wait_ready(server: Server, ready: bool, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    with httpx.Client(timeout=2.0, headers=server.headers) as client:
        while time.monotonic() < deadline:
            if server.process.poll() is not None:
                raise RuntimeError(f"server exited:\n{server.log_text()}")
            try:
                if not ready:
                    client.get(f"{server.url}/health")
                    return
                if client.get(f"{server.url}/ready").status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.1)
    server.stop()
    raise RuntimeError(f"server not ready after {timeout} s:\n{server.log_text()}")


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
