"""Issue 13: one outbound address policy (audio links, job downloads, webhooks) and the model
names a request may use. Unit level; the HTTP answers are in test_server_hostile.py."""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import pytest

from hark.jobs.download import fetch
from hark.jobs.errors import AudioFetchError
from hark.jobs.webhook import WebhookSender
from hark.model_access import ModelNotAllowed, allowed_model
from hark.net import (
    Fetched,
    Fetcher,
    FetchError,
    NonPublicAddressError,
    Redirected,
    TooLarge,
    checked_address,
    is_public,
)
from hark.settings import Settings

NOT_PUBLIC = [
    "127.0.0.1",
    "10.1.2.3",
    "172.16.0.1",
    "192.168.1.1",
    "169.254.169.254",
    "100.64.0.1",
    "0.0.0.0",
    "224.0.0.1",
    "255.255.255.255",
    "192.88.99.1",
    "::1",
    "::",
    "fe80::1",
    "fd00::1",
    "ff02::1",
    "64:ff9b::7f00:1",  # NAT64 of 127.0.0.1
    "64:ff9b::808:808",  # NAT64 even of a public address: it is a translator's
    "64:ff9b:1::a00:1",
    "2002:7f00:1::1",  # 6to4 of 127.0.0.1
    "2002:808:808::1",
    "2001:0:4136:e378:8000:63bf:3fff:fdd2",  # Teredo
    "::7f00:1",  # IPv4-compatible 127.0.0.1
    "::ffff:127.0.0.1",  # IPv4-mapped
    "::ffff:8.8.8.8",
    "::ffff:0:a00:1",  # IPv4-translated
    "2001:db8::1",
]
PUBLIC = ["8.8.8.8", "1.1.1.1", "93.184.216.34", "2606:4700:4700::1111", "2a00:1450:4001::1"]


@pytest.mark.parametrize("address", NOT_PUBLIC)
def test_non_public_addresses_are_refused(address: str) -> None:
    ip = ipaddress.ip_address(address)
    assert not is_public(ip)
    infos = [(socket.AF_INET6 if ip.version == 6 else socket.AF_INET, 1, 6, "", (address, 80))]
    with pytest.raises(NonPublicAddressError):
        checked_address(infos, allow_private=False)
    assert ipaddress.ip_address(checked_address(infos, allow_private=True)) == ip


@pytest.mark.parametrize("address", PUBLIC)
def test_public_addresses_pass(address: str) -> None:
    assert is_public(ipaddress.ip_address(address))


def test_one_bad_address_among_good_ones_refuses_the_host() -> None:
    infos = [(2, 1, 6, "", ("8.8.8.8", 80)), (10, 1, 6, "", ("64:ff9b::a00:1", 80, 0, 0))]
    with pytest.raises(NonPublicAddressError):
        checked_address(infos, allow_private=False)


@pytest.mark.parametrize("url", ["http://[64:ff9b::7f00:1]:9/a", "http://[::ffff:127.0.0.1]:9/a"])
def test_job_downloads_refuse_embedded_loopback(url: str) -> None:
    with pytest.raises(AudioFetchError, match="non-public"):
        fetch(url, Fetcher(timeout_s=2))


class _Hook(BaseHTTPRequestHandler):
    hits: ClassVar[list[bytes]] = []

    def do_POST(self) -> None:
        _Hook.hits.append(self.rfile.read(int(self.headers["content-length"])))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *_args: Any) -> None:
        pass


@pytest.fixture
def hook() -> Iterator[str]:
    _Hook.hits = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Hook)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/hook"
    server.shutdown()


def test_webhook_delivery_checks_the_address_itself(hook: str) -> None:
    # The check at submission is not enough: the name may point elsewhere by delivery time.
    refused = WebhookSender(attempts=2, backoff_s=0.01, timeout_s=2)
    assert refused.deliver(hook, {"id": "j1"}) is False
    assert _Hook.hits == []
    allowed = WebhookSender(attempts=1, timeout_s=2, allow_private=True)
    assert allowed.deliver(hook, {"id": "j2"}) is True
    assert len(_Hook.hits) == 1 and b'"j2"' in _Hook.hits[0]
    refused.close()
    allowed.close()


# -- model names -----------------------------------------------------------------------------


def _settings(tmp_path: Path, **values: Any) -> Settings:
    return Settings(data_dir=tmp_path, local_files_only=True, **values)


@pytest.mark.parametrize(
    "value",
    [
        *("/etc/shadow", "/etc/passwd", "/nonexistent/model.onnx", "../etc/passwd", "~/x"),
        *("etc/shadow", "someone/model", "models/../../etc", ".hidden", "a/b/c", "C:\\x"),
    ],
)
def test_paths_get_one_answer_that_does_not_echo_them(tmp_path: Path, value: str) -> None:
    (tmp_path / "models").mkdir()
    settings = _settings(tmp_path, models_dir=tmp_path / "models")
    messages = set()
    for field in ("align_model", "diarize_model", "embedding_model"):
        with pytest.raises(ModelNotAllowed) as info:
            allowed_model(field, value, settings)
        assert value not in str(info.value)
        messages.add(str(info.value).removeprefix(field))
    assert len(messages) == 1  # the same words whether the file exists or not


def test_models_dir_names_and_allow_list(tmp_path: Path) -> None:
    models = tmp_path / "models"
    (models / "my-aligner").mkdir(parents=True)
    (models / "seg.onnx").write_bytes(b"x")
    settings = _settings(tmp_path, models_dir=models, allowed_models="/opt/extra.onnx,org/name")
    assert allowed_model("align_model", "my-aligner", settings) == str(models / "my-aligner")
    assert allowed_model("diarize_model", "seg.onnx", settings) == str(models / "seg.onnx")
    assert allowed_model("diarize_model", "/opt/extra.onnx", settings) == "/opt/extra.onnx"
    assert allowed_model("align_model", "org/name", settings) == "org/name"
    assert allowed_model("embedding_model", "resemblyzer", settings) == "resemblyzer"
    assert allowed_model("align_model", None, settings) is None
    with pytest.raises(ModelNotAllowed):
        allowed_model("align_model", "missing-entry", settings)


def test_hub_ids_only_when_downloads_are_allowed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("HARK_OFFLINE", raising=False)
    off = Settings(data_dir=tmp_path)
    on = Settings(data_dir=tmp_path, allow_model_downloads=True)
    local = Settings(data_dir=tmp_path, allow_model_downloads=True, local_files_only=True)
    with pytest.raises(ModelNotAllowed):
        allowed_model("align_model", "org/wav2vec2", off)
    assert allowed_model("align_model", "org/wav2vec2", on) == "org/wav2vec2"
    with pytest.raises(ModelNotAllowed):
        allowed_model("align_model", "org/wav2vec2", local)
    with pytest.raises(ModelNotAllowed):  # a path is never an id
        allowed_model("align_model", "/etc/passwd", on)


def test_named_api_keys() -> None:
    settings = Settings(api_keys="alice:sk-a1,plain-key")  # type: ignore[arg-type]
    names = settings.named_keys()
    assert names[0] == ("alice", "sk-a1")
    assert names[1][0].startswith("key-") and "plain" not in names[1][0]
    assert names[1][1] == "plain-key"


# -- the one fetcher: both faces, the same checks ---------------------------------------------

_BIG = bytes(range(256)) * (12 * 1024)  # 3 MiB: over the 1 MiB spool threshold


class _Files(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        if self.path == "/moved":
            self.send_response(302)
            self.send_header("Location", "/big")
            self.end_headers()
            return
        self.send_response(200)
        self.send_header("Content-Length", str(len(_BIG)))
        self.end_headers()
        # The fetcher hangs up on an oversize body, as it should.
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            self.wfile.write(_BIG)

    def log_message(self, *_args: Any) -> None:
        pass


@pytest.fixture
def files() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Files)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def _both(fetcher: Fetcher, url: str) -> list[Any]:
    """The outcome of the blocking and the async face: a Fetched or the error raised."""
    outcomes: list[Any] = []
    for face in (fetcher.get, lambda u: asyncio.run(fetcher.aget(u))):
        try:
            outcomes.append(face(url))
        except FetchError as exc:
            outcomes.append(exc)
    return outcomes


def test_both_faces_spool_large_bodies_to_disk(files: str) -> None:
    for fetched in _both(Fetcher(allow_private=True, timeout_s=10), f"{files}/a/big.flac"):
        assert isinstance(fetched, Fetched), fetched
        assert fetched.size == len(_BIG) and fetched.name == "big.flac"
        assert fetched.file._rolled  # type: ignore[attr-defined]  # on disk, not in memory
        assert fetched.read() == _BIG
        fetched.close()


@pytest.mark.parametrize(
    ("fetcher", "path", "error"),
    [
        (Fetcher(allow_private=False, timeout_s=5), "/big", NonPublicAddressError),
        (Fetcher(allow_private=True, timeout_s=5, max_bytes=1000), "/big", TooLarge),
        (Fetcher(allow_private=True, timeout_s=5), "/moved", Redirected),
    ],
)
def test_both_faces_refuse_alike(
    files: str, fetcher: Fetcher, path: str, error: type[FetchError]
) -> None:
    outcomes = _both(fetcher, f"{files}{path}")
    assert all(isinstance(o, error) for o in outcomes), outcomes
    if error is TooLarge:  # refused on the declared length, before reading
        assert [o.size for o in outcomes] == [len(_BIG)] * 2
    if error is Redirected:
        assert [o.location for o in outcomes] == ["/big"] * 2
