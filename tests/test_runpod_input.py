"""The job input schema (hark.jobs.input): validation messages, base64, and link downloads."""

from __future__ import annotations

import base64
import re
import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from hark.jobs import AudioFetchError, AudioTooLargeError, JobInput, JobInputError
from hark.jobs.base64_audio import decode_base64
from hark.jobs.download import fetch
from hark.net import Fetcher
from hark.options import TranscribeOptions

AUDIO = b"fLaC" + bytes(range(256)) * 8  # bytes only; never decoded here
B64 = base64.b64encode(AUDIO).decode()


def error_of(raw: object) -> str:
    with pytest.raises(JobInputError) as info:
        JobInput.parse(raw)
    return str(info.value)


def test_every_transcribe_option_is_accepted() -> None:
    # Options added to TranscribeOptions later appear here without any change.
    assert set(TranscribeOptions.model_fields) <= set(JobInput.model_fields)
    assert JobInput.valid_keys()[:4] == ["audio_base_64", "audio_base64", "audio", "audio_url"]
    request = JobInput.parse(
        {"audio_base_64": B64, "language": "EN", "temperature": "0,0.2", "beam_size": 2}
    )
    options = request.transcribe_options()
    assert type(options) is TranscribeOptions
    assert (options.language, options.temperature, options.beam_size) == ("en", [0.0, 0.2], 2)
    assert request.transcribe_options(max_duration=5).max_duration == 5


@pytest.mark.parametrize("field", ["audio_base_64", "audio_base64"])
@pytest.mark.parametrize(
    "encoded",
    [
        B64,
        "data:audio/flac;base64," + B64,
        "data:audio/ogg;codecs=opus;base64," + B64,
        "\n".join(B64[i : i + 76] for i in range(0, len(B64), 76)),  # `base64` without -w0
        base64.urlsafe_b64encode(AUDIO).decode().rstrip("="),
    ],
)
def test_base64_forms(field: str, encoded: str) -> None:
    request = JobInput.parse({field: encoded})
    assert request.source_field == field and request.url is None
    assert request.inline_audio() == AUDIO


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("not base64!", "character '!' at position 9"),  # after the spaces are dropped
        ("QUJD=QUJD", "'=' padding in the middle"),
        ("QUJDR", "cut short"),
        ("", "audio_base_64 is empty"),
        ("data:audio/wav,RIFF", "without ';base64,'"),
        ("https://example.com/a.mp3", "send links as audio_url"),
    ],
)
def test_invalid_base64_says_what_is_wrong(value: str, expected: str) -> None:
    message = error_of({"audio_base_64": value})
    assert expected in message
    if "link" not in expected:
        assert "base64 -w0" in message  # and how to do it right


def test_unknown_keys_are_named_with_suggestions() -> None:
    message = error_of({"audio_base_64": B64, "beamsize": 2, "model": "x", "zzz": 1})
    assert message.startswith("unknown input options 'beamsize' (did you mean 'beam_size'?)")
    assert "'model' (the model is chosen when the worker starts" in message
    assert "'zzz'" in message and "valid options: audio_base_64, audio_base64" in message


def test_audio_is_required_once() -> None:
    assert error_of({}).startswith("no audio: send the file as audio_base_64")
    assert "in one key only, not in audio_base_64 and audio_url" in error_of(
        {"audio_base_64": B64, "audio_url": "https://example.com/a.wav"}
    )


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ({"audio_url": "ftp://example.com/a.wav"}, "audio_url: must be an http:// or https://"),
        ({"audio": "/data/a.wav"}, "audio: must be an http:// or https://"),
        ({"audio": B64 * 2}, "to send the file itself, use audio_base_64"),
        ({"audio_base_64": B64, "beam_size": 99}, "beam_size: Input should be less than"),
        ({"audio_base_64": B64, "language": "xx"}, "unknown language 'xx'"),
        ({"audio_base_64": B64, "output_formats": ["srt", "pdf"]}, "output_formats.1: Input"),
        ({"audio_base_64": 12}, "audio_base_64: Input should be a valid string"),
        (["audio"], "the job input must be a JSON object"),
    ],
)
def test_invalid_values(raw: object, expected: str) -> None:
    assert expected in error_of(raw)


def test_output_formats_forms() -> None:
    assert JobInput.parse({"audio_base_64": B64, "output_formats": "SRT, vtt srt"}).output_formats
    request = JobInput.parse({"audio_base_64": B64, "output_formats": ["txt", "TSV", "txt"]})
    assert request.output_formats == ["txt", "tsv"]
    assert JobInput.parse({"audio_base_64": B64}).output_formats == []


def test_base64_size_limit() -> None:
    request = JobInput.parse({"audio_base_64": B64})
    with pytest.raises(AudioTooLargeError, match=re.escape("over the 0.0 MiB limit")):
        request.inline_audio(max_bytes=100)


def test_decode_base64_helper() -> None:
    assert decode_base64("QUJD") == b"ABC"
    with pytest.raises(ValueError, match="audio_base64 is not valid base64"):
        decode_base64("A!", "audio_base64")


# --------------------------------------------------------------------------- downloads


class _Files(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        if self.path == "/audio.flac":
            self._send(200, AUDIO)
        elif self.path == "/moved":
            self.send_response(302)
            self.send_header("Location", "/audio.flac")
            self.send_header("Content-Length", "0")
            self.end_headers()
        elif self.path == "/big":
            self._send(200, b"x" * 5000)
        elif self.path == "/endless":  # no Content-Length: only the running count can stop it
            self.send_response(200)
            self.end_headers()
            for _ in range(100):
                self.wfile.write(b"x" * 1000)
        elif self.path == "/slow":
            self.send_response(200)
            self.end_headers()
            for _ in range(30):  # a trickle: every read is quick, the whole is not
                self.wfile.write(b"x" * 100)
                self.wfile.flush()
                time.sleep(0.1)
        else:
            self._send(404, b"not here")

    def _send(self, status: int, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def files() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Files)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.mark.parametrize("field", ["audio", "audio_url"])
def test_downloads_a_link(files: str, field: str) -> None:
    request = JobInput.parse({field: f"{files}/audio.flac"})
    assert request.url == f"{files}/audio.flac" and request.source_field == field
    fetcher = Fetcher(allow_private=True, timeout_s=5, max_bytes=10_000)
    with request.open_audio(fetcher) as fetched:
        assert fetched.read() == AUDIO


def test_open_audio_gives_a_file_for_either_source(files: str) -> None:
    fetcher = Fetcher(allow_private=True, timeout_s=5, max_bytes=10_000, spool_bytes=100)
    with JobInput.parse({"audio_url": f"{files}/audio.flac"}).open_audio(fetcher) as linked:
        assert linked.size == len(AUDIO) and linked.file.read() == AUDIO
        assert linked.file._rolled  # type: ignore[attr-defined]  # over spool_bytes: on disk
    inline = JobInput.parse({"audio_base_64": base64.b64encode(AUDIO).decode()})
    with inline.open_audio(fetcher) as sent:
        assert sent.size == len(AUDIO) and sent.file.read() == AUDIO
    small = Fetcher(allow_private=True, timeout_s=5, max_bytes=10)
    for request in (inline, JobInput.parse({"audio_url": f"{files}/audio.flac"})):
        with pytest.raises(AudioTooLargeError):
            request.open_audio(small)


def test_private_addresses_are_refused_by_default(files: str) -> None:
    request = JobInput.parse({"audio_url": f"{files}/audio.flac"})
    with pytest.raises(AudioFetchError, match=re.escape("non-public address (127.0.0.1)")):
        request.open_audio(Fetcher(timeout_s=5))


def test_unresolvable_host(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_dns(*args: object, **kwargs: object) -> None:
        raise socket.gaierror(-2, "Name or service not known")

    monkeypatch.setattr(socket, "getaddrinfo", no_dns)  # no real DNS query leaves the machine
    with pytest.raises(AudioFetchError, match=re.escape("cannot resolve 'example.invalid'")):
        fetch("http://example.invalid/a.wav", Fetcher(timeout_s=5))


@pytest.mark.parametrize(
    ("path", "error", "expected"),
    [
        ("/moved", AudioFetchError, "redirects (HTTP 302) to '/audio.flac'"),
        ("/missing", AudioFetchError, "HTTP 404 Not Found"),
        ("/big", AudioTooLargeError, "over the 0.0 MiB download limit (0.0 MiB)"),
        ("/endless", AudioTooLargeError, "over the 0.0 MiB download limit"),
        ("/slow", AudioFetchError, "took longer than 0.5 s"),
    ],
)
def test_download_limits(files: str, path: str, error: type[Exception], expected: str) -> None:
    limit = None if path == "/slow" else 4096
    with pytest.raises(error, match=re.escape(expected)):
        fetch(f"{files}{path}", Fetcher(allow_private=True, timeout_s=0.5, max_bytes=limit))


def test_unreachable_host_is_a_fetch_error() -> None:
    with pytest.raises(
        AudioFetchError, match=re.escape("downloading audio_url 'http://127.0.0.1:9/x")
    ):
        fetch("http://127.0.0.1:9/x", Fetcher(allow_private=True, timeout_s=2))


def test_the_sdk_validator_is_the_first_gate() -> None:
    from runpod.serverless.utils.rp_validator import validate

    from hark.jobs.errors import JobInputError
    from hark.jobs.input import JobInput
    from hark.runpod.input import runpod_schema, validate_input

    schema = runpod_schema()
    assert set(schema) == set(JobInput.valid_keys())
    good = {"audio_base_64": "UklGRg==", "language": "en", "temperature": [0, 0.2]}
    assert "validated_input" in validate(good, dict(schema))
    assert validate_input(good).language == "en"
    # An unknown key: the SDK refuses it, and the message names it (with a suggestion).
    assert "errors" in validate({**good, "langauge": "en"}, dict(schema))
    with pytest.raises(JobInputError, match="langauge"):
        validate_input({**good, "langauge": "en"})
    # Not JSON data at all (only possible from Python callers): refused by the SDK gate too.
    assert "errors" in validate({**good, "initial_prompt": {1, 2}}, dict(schema))
    with pytest.raises(JobInputError, match="initial_prompt"):
        validate_input({**good, "initial_prompt": {1, 2}})
