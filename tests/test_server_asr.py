"""`POST /asr` and `POST /detect-language` against a real `hark serve` process."""

from __future__ import annotations

import base64
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pysubs2
import pytest
import webvtt

from hark.server.languages import LANGUAGES
from hark.server.params import OPTION_FIELDS
from support_server import FAST, Server, shared_server

CONTENT_TYPES = {
    "json": "application/json",
    "txt": "text/plain; charset=utf-8",
    "tsv": "text/tab-separated-values; charset=utf-8",
    "srt": "application/x-subrip; charset=utf-8",
    "vtt": "text/vtt; charset=utf-8",
}


@pytest.fixture(scope="module")
def server(test_models: Path) -> Server:
    return main_server(test_models)


def main_server(test_models: Path) -> Server:
    # HARK_QUEUE_SIZE from the environment is overridden by the --queue-size flag.
    return shared_server(
        "main",
        test_models,
        env={
            "HARK_ALLOW_PRIVATE_URLS": "true",
            "HARK_QUEUE_SIZE": "2",
            # Model names test_server_errors asks for: allowed, but not there.
            "HARK_ALLOWED_MODELS": "someone/missing-speaker-model,/nonexistent/segmentation.onnx",
        },
        args=["--queue-size", "64"],
    )


@pytest.fixture(scope="module")
def short(shared_audio: Path) -> bytes:
    return (shared_audio / "librispeech" / "1089-134686-0001.flac").read_bytes()


def test_cli_flags_override_environment(server: Server) -> None:
    with server.client() as client:
        assert client.get("/ready").json()["queue"]["capacity"] == 64


@pytest.mark.parametrize("output", list(CONTENT_TYPES))
def test_every_output_format(server: Server, short: bytes, output: str) -> None:
    with server.client() as client:
        r = client.post(
            "/asr",
            params={**FAST, "output": output},
            files={"file": ("talk 1.flac", short, "audio/flac")},
        )
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == CONTENT_TYPES[output]
    assert f'filename="talk_1.{output}"' in r.headers["content-disposition"]
    assert "filename*=UTF-8''talk%201." in r.headers["content-disposition"]
    if output == "json":
        body = r.json()
        assert body["duration"] == pytest.approx(3.275, abs=0.01)
        assert body["language"] == "en" and body["segments"] and body["word_segments"]
    elif output == "srt":
        assert len(pysubs2.SSAFile.from_string(r.text, format_="srt")) >= 1
    elif output == "vtt":
        assert len(webvtt.from_string(r.text).captions) >= 1
    elif output == "tsv":
        assert r.text.startswith("start\tend\ttext\n")
    else:
        assert r.text.strip()


def test_output_all_holds_every_format(server: Server, short: bytes) -> None:
    with server.client() as client:
        r = client.post("/asr", params={**FAST, "output": "all"}, files={"file": ("a.flac", short)})
    assert r.status_code == 200, r.text
    body = r.json()
    assert set(body) == {"json", "txt", "tsv", "srt", "vtt"}
    assert body["json"]["segments"] and body["vtt"].startswith("WEBVTT")
    assert 'filename="a.json"' in r.headers["content-disposition"]


def test_form_fields_and_audio_file_field(server: Server, short: bytes) -> None:
    """whisper-asr-webservice clients: `audio_file`, params as form fields (form wins),
    `align` for word times while the options have no field of that name, subtitle layout."""
    no_words = "word_timestamps" if "align" in OPTION_FIELDS else "align"
    with server.client() as client:
        r = client.post(
            "/asr",
            params={"output": "json", "max_line_width": "80"},
            data={
                **FAST,
                "output": "all",
                "encode": "true",
                no_words: "false",
                "max_line_width": "12",
                "max_line_count": "1",
            },
            files={"audio_file": ("a.flac", short)},
        )
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["json"]["segments"] and not body["json"]["word_segments"]
    for cue in pysubs2.SSAFile.from_string(body["srt"], format_="srt"):
        assert "\\N" not in cue.text  # one line per cue
        assert len(cue.text) <= 12 or " " not in cue.text


def test_json_body_with_base64_audio(server: Server, short: bytes) -> None:
    payload = {**FAST, "audio": base64.b64encode(short).decode(), "filename": "b64.flac"}
    payload["max_new_tokens"] = 8  # JSON numbers work as well as strings
    with server.client() as client:
        r = client.post("/asr", json=payload)
    assert r.status_code == 200, r.text
    assert r.json()["duration"] == pytest.approx(3.275, abs=0.01)
    assert 'filename="b64.json"' in r.headers["content-disposition"]


def test_raw_audio_body(server: Server, short: bytes) -> None:
    with server.client() as client:
        r = client.post(
            "/asr",
            params={**FAST, "output": "txt"},
            content=short,
            headers={"content-type": "audio/flac"},
        )
    assert r.status_code == 200, r.text
    assert 'filename="transcript.txt"' in r.headers["content-disposition"]


class _AudioHandler(BaseHTTPRequestHandler):
    audio = b""

    def do_GET(self) -> None:
        if self.path == "/redirect":
            self.send_response(302)
            self.send_header("Location", "http://169.254.169.254/latest/meta-data")
            self.end_headers()
            return
        if self.path != "/clip.flac":
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Type", "audio/flac")
        self.send_header("Content-Length", str(len(self.audio)))
        self.end_headers()
        self.wfile.write(self.audio)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def audio_host(short: bytes) -> Iterator[str]:
    _AudioHandler.audio = short
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _AudioHandler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()


def test_audio_url(server: Server, audio_host: str) -> None:
    with server.client() as client:
        ok = client.post("/asr", params={**FAST, "audio_url": f"{audio_host}/clip.flac"})
        assert ok.status_code == 200, ok.text
        assert ok.json()["duration"] == pytest.approx(3.275, abs=0.01)
        assert 'filename="clip.json"' in ok.headers["content-disposition"]
        redirect = client.post("/asr", data={"audio_url": f"{audio_host}/redirect"})
        missing = client.post("/asr", data={"audio_url": f"{audio_host}/nothing"})
        scheme = client.post("/asr", data={"audio_url": "file:///etc/passwd"})
    assert redirect.status_code == 400 and "redirect" in redirect.json()["error"]["message"]
    assert missing.status_code == 400 and "404" in missing.json()["error"]["message"]
    assert scheme.status_code == 422 and "audio_url" in scheme.json()["error"]["message"]


def test_compute_type_must_match_loaded_model(server: Server, short: bytes) -> None:
    with server.client() as client:
        loaded = client.get("/ready").json()["model"]["compute_type"]
        r = client.post(
            "/asr", params={**FAST, "compute_type": loaded}, files={"file": ("a.flac", short)}
        )
        assert r.status_code == 200, r.text
        other = "float16" if loaded != "float16" else "int8"
        r = client.post(
            "/asr", params={**FAST, "compute_type": other}, files={"file": ("a.flac", short)}
        )
        assert r.status_code == 409
        error = r.json()["error"]
        assert error["code"] == "compute_type_mismatch" and loaded in error["message"]
        r = client.post("/asr", params={"compute_type": "fp3"}, files={"file": ("a.flac", short)})
        assert r.status_code == 422 and "compute_type" in r.json()["error"]["message"]


def test_detect_language(server: Server, shared_audio: Path) -> None:
    audio = (shared_audio / "jfk.flac").read_bytes()
    with server.client() as client:
        r = client.post(
            "/detect-language",
            data={"language_detection_chunks": "2"},
            files={"file": ("jfk.flac", audio)},
        )
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["language"] in LANGUAGES and 0 < body["language_probability"] <= 1
    assert 1 <= len(body["candidates"]) <= 5
    assert body["candidates"][0]["language"] == body["language"]
    assert body["detected_language"] == LANGUAGES[body["language"]]


def test_detect_language_without_speech(server: Server, shared_audio: Path) -> None:
    silence = (shared_audio / "pyannote" / "empty.wav").read_bytes()
    with server.client() as client:
        r = client.post("/detect-language", files={"file": ("empty.wav", silence)})
    assert r.status_code == 200, r.text
    assert r.json()["language"] is None
