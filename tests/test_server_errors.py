"""Bad input gets a JSON error with the right status and a stable code, never a stack trace."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from support_server import FAST, Server
from test_server_asr import main_server


@pytest.fixture(scope="module")
def server(test_models: Path) -> Server:
    return main_server(test_models)


def error_of(r: httpx.Response, status: int, code: str) -> str:
    assert r.status_code == status, r.text
    assert r.headers["content-type"] == "application/json"
    body = r.json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message"}
    assert body["error"]["code"] == code, body
    message = body["error"]["message"]
    assert "Traceback" not in message and 'File "' not in message
    return message


def test_empty_file(server: Server) -> None:
    with server.client() as client:
        r = client.post("/asr", params=FAST, files={"file": ("empty.wav", b"")})
    assert "empty" in error_of(r, 400, "empty_audio")


def test_text_file_is_unsupported_media(server: Server) -> None:
    text = b"This is a text file, not audio.\n" * 50
    with server.client() as client:
        r = client.post("/asr", params=FAST, files={"file": ("notes.txt", text, "text/plain")})
        detect = client.post("/detect-language", files={"file": ("notes.txt", text)})
    error_of(r, 415, "not_audio")
    error_of(detect, 415, "not_audio")


def test_truncated_flac(server: Server, shared_audio: Path) -> None:
    data = (shared_audio / "jfk.flac").read_bytes()
    with server.client() as client:
        r = client.post("/asr", params=FAST, files={"file": ("cut.flac", data[: len(data) // 2])})
    assert "truncated" in error_of(r, 400, "corrupt_audio") or r.json()


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"beam_size": "0"}, "beam_size"),
        ({"beam_size": "many"}, "beam_size"),
        ({"output": "docx"}, "output"),
        ({"language": "xx"}, "language"),
        ({"temperature": "0,hot"}, "temperature"),
        ({"task": "summarise"}, "task"),
        ({"vad_onset": "0.3", "vad_offset": "0.6"}, "vad_offset"),
        ({"max_line_count": "2"}, "max_line_width"),
        ({"word_timestamps": "perhaps"}, "word_timestamps"),
        ({"num_speakers": "0"}, "num_speakers"),
    ],
)
def test_invalid_parameters_name_the_field(server: Server, params: dict, field: str) -> None:
    with server.client() as client:
        r = client.post("/asr", params=params, files={"file": ("a.wav", b"RIFF")})
    assert field in error_of(r, 422, "invalid_parameter")


def test_unknown_parameters_are_refused_with_a_suggestion(
    server: Server, shared_audio: Path
) -> None:
    """As /run does: a misspelt name is a 422 naming it and the likely intended one, whether
    it came as a query, a form field or JSON, and before any audio is read."""
    audio = (shared_audio / "jfk.flac").read_bytes()
    with server.client() as client:
        query = client.post("/asr", params={**FAST, "langauge": "fr"}, files={"file": ("a", audio)})
        form = client.post("/asr", data={"beamsize": "2"}, files={"file": ("a", audio)})
        body = client.post("/asr", json={"audio": "", "ouput": "srt", "nonsense_key": 1})
        # whisper-asr-webservice's flags that mean nothing here are still accepted.
        accepted = client.post(
            "/asr",
            params={**FAST, "encode": "true", "vad_filter": "true", "output": "txt"},
            files={"file": ("a", audio)},
        )
    message = error_of(query, 422, "invalid_parameter")
    assert message.startswith("unknown parameter 'langauge' (did you mean 'language'?)")
    assert "valid parameters: file, audio_file, output, audio_url" in message
    assert "(did you mean 'beam_size'?)" in error_of(form, 422, "invalid_parameter")
    message = error_of(body, 422, "invalid_parameter")
    assert message.startswith("unknown parameters 'ouput' (did you mean 'output'?), ")
    assert "'nonsense_key'; valid" in message
    assert accepted.status_code == 200 and accepted.text.strip(), accepted.text


def test_missing_audio(server: Server) -> None:
    with server.client() as client:
        r = client.post("/asr", data={"output": "json"})
        both = client.post(
            "/asr", data={"audio_url": "http://127.0.0.1:9/x.wav"}, files={"file": ("a", b"x")}
        )
    assert "file" in error_of(r, 422, "invalid_parameter")
    assert "audio_url" in error_of(both, 422, "invalid_parameter")


def test_bad_bodies(server: Server) -> None:
    with server.client() as client:
        not_json = client.post(
            "/asr", content=b"{nope", headers={"content-type": "application/json"}
        )
        not_b64 = client.post("/asr", json={"audio": "%%% not base64 %%%"})
        array = client.post("/asr", json=[1, 2])
        broken_multipart = client.post(
            "/asr", content=b"garbage", headers={"content-type": "multipart/form-data"}
        )
        wrong_file_field = client.post("/asr", files={"upload": ("a.wav", b"RIFF")})
    error_of(not_json, 400, "invalid_body")
    assert "audio" in error_of(not_b64, 422, "invalid_parameter")
    error_of(array, 400, "invalid_body")
    error_of(broken_multipart, 400, "invalid_body")
    assert "upload" in error_of(wrong_file_field, 422, "invalid_parameter")


def test_unknown_route_and_method(server: Server) -> None:
    with server.client() as client:
        missing = client.get("/v2/transcribe")
        method = client.get("/asr")
        put = client.put("/v1/audio/transcriptions")
    assert "/v2/transcribe" in error_of(missing, 404, "not_found")
    error_of(method, 405, "method_not_allowed")
    error_of(put, 405, "method_not_allowed")


def test_server_log_has_no_tracebacks(server: Server) -> None:
    assert "Traceback" not in server.log_text()


@pytest.mark.parametrize(
    "params",
    [
        {"diarize": "true", "embedding_model": "someone/missing-speaker-model"},
        {"diarize": "true", "diarize_model": "/nonexistent/segmentation.onnx"},
    ],
)
def test_missing_request_model_is_a_clear_400(
    server: Server, shared_audio: Path, params: dict[str, str]
) -> None:
    """A model the operator allowed (HARK_ALLOWED_MODELS) but that is not there: 400 naming it.
    Names that are not allowed get 422 without the name (test_server_hostile.py)."""
    data = (shared_audio / "jfk.flac").read_bytes()
    with server.client() as client:
        r = client.post("/asr", params={**FAST, **params}, files={"file": ("jfk.flac", data)})
        # The server stays healthy, and the next request is served.
        assert client.get("/ready").status_code == 200
    name = next(v for k, v in params.items() if k.endswith("_model"))
    assert name in error_of(r, 400, "model_not_found")
