"""Live transcription over real sockets (`hark serve` on the random-weight whisper-tiny): the
native /v1/listen protocol, container input, limits, hostile input, auth, disconnects, and the
OpenAI Realtime route driven by the `openai` SDK itself."""

from __future__ import annotations

import asyncio
import base64
import io
import json
import time
from pathlib import Path
from typing import Any

import av
import httpx
import numpy as np
import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

from support_server import Server, shared_server, wait_for

# Random weights: forbid end-of-text and cap the length so every window yields words.
FAST = "language=en&temperature=0&suppress_tokens=-1,50257&max_new_tokens=8"
LIMITS = {"HARK_LIVE_MAX_STREAMS": "2", "HARK_LIVE_MAX_FRAME_BYTES": "262144"}


@pytest.fixture(scope="module")
def server(test_models: Path) -> Server:
    return shared_server("live", test_models, env=LIMITS)


@pytest.fixture(scope="module")
def full_finals(test_models: Path) -> Server:
    return shared_server("live-full", test_models, env={**LIMITS, "HARK_LIVE_FINAL_INPUT": "full"})


@pytest.fixture(scope="module")
def keyed(test_models: Path) -> Server:
    return shared_server("live-keys", test_models, env={"HARK_API_KEYS": "alice:k1,bob:k2"})


@pytest.fixture(scope="module")
def speech(shared_audio: Path) -> np.ndarray:
    from hark.audio import load_audio

    return load_audio(shared_audio / "jfk.flac")


def pcm16(samples: np.ndarray) -> bytes:
    return (np.clip(samples, -1, 1) * 32767).astype("<i2").tobytes()


def ws_url(server: Server, path: str) -> str:
    return server.url.replace("http://", "ws://") + path


def open_ws(server: Server, query: str = FAST, **kwargs: Any) -> ClientConnection:
    return connect(ws_url(server, f"/v1/listen?{query}"), max_size=None, open_timeout=30, **kwargs)


def events_until_close(
    ws: ClientConnection, timeout: float = 120
) -> tuple[list[dict[str, Any]], Any]:
    out = []
    deadline = time.monotonic() + timeout
    while True:
        try:
            out.append(json.loads(ws.recv(timeout=max(0.1, deadline - time.monotonic()))))
        except ConnectionClosed as closed:
            return out, closed.rcvd


def metric(server: Server, name: str) -> float:
    text = httpx.get(server.url + "/metrics", trust_env=False).text
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    raise AssertionError(f"{name} not in /metrics")


@pytest.mark.parametrize("name", ["server", "full_finals"])
def test_native_stream_end_to_end(
    request: pytest.FixtureRequest, name: str, speech: np.ndarray
) -> None:
    """Also with HARK_LIVE_FINAL_INPUT=full (finals from 30 s inputs, unprompted)."""
    server: Server = request.getfixturevalue(name)
    audio = pcm16(np.r_[speech, np.zeros(16000, np.float32)])
    kinds = ("step", "final")
    decodes = {k: metric(server, f'hark_live_decode_seconds_count{{kind="{k}"}}') for k in kinds}
    with open_ws(server, FAST + "&overload=wait") as ws:  # a file, sent at once: lossless
        ready = json.loads(ws.recv())
        assert ready["type"] == "ready" and ready["format"] == "pcm16" and ready["language"] == "en"
        assert ready["overload"] == "wait"
        for i in range(0, len(audio), 6401):  # odd sizes: samples split across messages
            ws.send(audio[i : i + 6401])
        ws.send(json.dumps({"type": "end"}))
        events, close = events_until_close(ws)
    assert close.code == 1000
    finals = [e["segment"] for e in events if e["type"] == "final"]
    done = events[-1]
    assert done["type"] == "done" and done["session_id"] == ready["session_id"]
    assert finals and [f["id"] for f in finals] == list(range(len(finals)))
    last = 0.0
    for segment in finals:
        assert segment["text"] and segment["words"]
        for word in segment["words"]:
            assert last - 1e-3 <= word["start"] <= word["end"] <= 12.0 + 1e-3
            assert 0 <= word["score"] <= 1
            last = word["start"]
    # The done transcript is /asr's JSON and holds exactly the finals.
    assert [s["text"] for s in done["transcript"]["segments"]] == [f["text"] for f in finals]
    assert done["transcript"]["duration"] == pytest.approx(12.0, abs=0.01)
    assert done["stats"]["peak_buffer_s"] <= 21.0
    # Every decode was timed, by kind (sent at once, the file's decodes are all finals').
    made = {
        k: metric(server, f'hark_live_decode_seconds_count{{kind="{k}"}}') - decodes[k]
        for k in kinds
    }
    assert made["final"] > 0 and sum(made.values()) == done["stats"]["decodes"]
    # Subtitles afterwards.
    session = ready["session_id"]
    srt = httpx.get(f"{server.url}/v1/listen/{session}?output=srt", trust_env=False)
    assert srt.status_code == 200 and "-->" in srt.text
    vtt = httpx.get(f"{server.url}/v1/listen/{session}?output=vtt", trust_env=False)
    assert vtt.text.startswith("WEBVTT")
    missing = httpx.get(f"{server.url}/v1/listen/live_nope", trust_env=False)
    assert missing.status_code == 404 and "live session" in missing.json()["error"]["message"]


def webm_opus(samples: np.ndarray, fmt: str = "webm") -> bytes:
    """What a browser's MediaRecorder sends: WebM with Opus at 48 kHz (or Ogg, `fmt="ogg"`)."""
    buf = io.BytesIO()
    with av.open(buf, "w", format=fmt) as container:
        stream = container.add_stream("libopus", rate=48000, layout="mono")
        frame = av.AudioFrame.from_ndarray(
            (samples * 32767).astype("<i2").reshape(1, -1), format="s16", layout="mono"
        )
        frame.sample_rate = 16000
        for resampled in av.AudioResampler(format="s16", layout="mono", rate=48000).resample(frame):
            for packet in stream.encode(resampled):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    return buf.getvalue()


def test_container_stream_from_a_browser(server: Server, speech: np.ndarray) -> None:
    data = webm_opus(np.r_[speech[: 16000 * 4], np.zeros(16000, np.float32)])
    with open_ws(server, FAST + "&format=container") as ws:
        assert json.loads(ws.recv())["format"] == "container"
        for i in range(0, len(data), 4096):
            ws.send(data[i : i + 4096])
        ws.send(json.dumps({"type": "end"}))
        events, close = events_until_close(ws)
    assert close.code == 1000
    assert events[-1]["type"] == "done"
    assert events[-1]["transcript"]["duration"] == pytest.approx(5.0, abs=0.1)
    assert any(e["type"] == "final" for e in events)


def test_garbage_container_is_refused_with_1003(server: Server) -> None:
    with open_ws(server, FAST + "&format=container") as ws:
        ws.recv()
        ws.send(b"this is not a media stream at all " * 200)
        ws.send(json.dumps({"type": "end"}))
        events, close = events_until_close(ws)
    assert close.code == 1003
    assert events[-1]["type"] == "error" and events[-1]["code"] == "undecodable_audio"


def test_hostile_messages_get_clear_errors(server: Server) -> None:
    with open_ws(server) as ws:
        ws.recv()
        ws.send("not json {")
        assert json.loads(ws.recv())["code"] == "invalid_json"
        ws.send(json.dumps({"type": "dance"}))
        error = json.loads(ws.recv())
        assert error["code"] == "unknown_type" and "flush" in error["message"]
        ws.send(b"\x01")  # half a sample: kept for the next message
        ws.send(json.dumps({"type": "end"}))
        events, close = events_until_close(ws)
        assert close.code == 1000 and events[-1]["type"] == "done"
    # A message over HARK_LIVE_MAX_FRAME_BYTES (256 KiB here) closes with 1009.
    with open_ws(server) as ws:
        ws.recv()
        ws.send(bytes(300_000))
        events, close = events_until_close(ws)
    assert close.code == 1009 and events[-1]["code"] == "message_too_big"
    # Bad parameters close with 1008 and name the problem.
    with open_ws(server, "langauge=en") as ws:
        events, close = events_until_close(ws)
    assert close.code == 1008 and "langauge" in events[-1]["message"]
    with open_ws(server, "sample_rate=12345") as ws:
        events, close = events_until_close(ws)
    assert close.code == 1008 and "sample_rate" in events[-1]["message"]


def test_config_message_and_flush(server: Server, speech: np.ndarray) -> None:
    with open_ws(server, "") as ws:
        ws.recv()
        config = {"type": "config", "language": "en", "interim": False, "temperature": [0]}
        ws.send(json.dumps({**config, "suppress_tokens": [-1, 50257], "max_new_tokens": 8}))
        ready = json.loads(ws.recv())
        assert ready["type"] == "ready" and ready["language"] == "en"
        ws.send(pcm16(speech[: 16000 * 3]))
        ws.send(json.dumps({"type": "config", "language": "fr"}))
        assert json.loads(ws.recv())["code"] == "config_too_late"
        ws.send(json.dumps({"type": "flush"}))
        event = json.loads(ws.recv(timeout=60))
        while event["type"] == "lag":
            event = json.loads(ws.recv(timeout=60))
        assert event["type"] == "final"  # flushed before any pause; interim=false: no partials
        ws.send(json.dumps({"type": "end"}))
        events, _ = events_until_close(ws)
    assert not [e for e in events if e["type"] == "partial"]


def test_streams_beyond_the_limit_are_refused_and_others_go_on(server: Server) -> None:
    refused = metric(server, "hark_live_streams_refused_total")
    with open_ws(server) as first, open_ws(server) as second:
        for ws in (first, second):
            assert json.loads(ws.recv())["type"] == "ready"
        wait_for(lambda: metric(server, "hark_live_streams") == 2, 10)
        with open_ws(server) as third:
            events, close = events_until_close(third)
        assert close.code == 1013 and "retry later" in close.reason
        assert events[-1]["code"] == "too_many_streams"
        assert metric(server, "hark_live_streams_refused_total") == refused + 1
        for ws in (first, second):  # the open streams are unaffected
            ws.send(bytes(3200))
            ws.send(json.dumps({"type": "end"}))
            events, close = events_until_close(ws)
            assert close.code == 1000 and events[-1]["type"] == "done"


def test_disconnect_frees_the_stream(server: Server, speech: np.ndarray) -> None:
    with open_ws(server) as ws:
        ws.recv()
        ws.send(pcm16(speech[: 16000 * 2]))
        ws.socket.close()  # gone without a close frame
        wait_for(lambda: metric(server, "hark_live_streams") == 0, 30)
    # Both slots are free again.
    with open_ws(server) as first, open_ws(server) as second:
        for ws in (first, second):
            assert json.loads(ws.recv())["type"] == "ready"
    wait_for(lambda: metric(server, "hark_live_streams") == 0, 30)


def test_disconnect_mid_container_stops_its_decoder_thread(
    test_models: Path, speech: np.ndarray, tmp_path: Path
) -> None:
    """In-process (Starlette's test client), to see the server's threads."""
    import threading

    from starlette.testclient import TestClient

    from hark.pipeline import load_pipeline
    from hark.server import create_app
    from hark.settings import Settings

    def decoders() -> int:
        return sum(t.name == "hark-live-container" for t in threading.enumerate())

    pipeline = load_pipeline(test_models / "whisper-tiny", device="cpu", local_files_only=True)
    app = create_app(Settings(data_dir=tmp_path, job_workers=0), pipeline=pipeline)
    data = webm_opus(speech)
    with TestClient(app) as client:
        with client.websocket_connect("/v1/listen?format=container&" + FAST) as ws:
            ws.receive_json()
            ws.send_bytes(data[: len(data) // 2])  # the decoder waits for the rest
            wait_for(lambda: decoders() == 1, 10)
        wait_for(lambda: decoders() == 0, 10)
        assert app.state.hark.live.open_streams == 0


def test_a_long_stream_pushed_fast_holds_bounded_buffers(
    server: Server, speech: np.ndarray
) -> None:
    """Ten minutes of audio, sent as fast as the socket takes it: the server reads only as
    fast as it processes (back-pressure) and its buffers stay at their bounds."""
    rng = np.random.default_rng(0)
    minute = (rng.standard_normal(16000 * 60) * 0.002).astype(np.float32)  # room noise
    block = minute.copy()
    block[16000 * 20 : 16000 * 20 + speech.size] += speech  # an utterance...
    with open_ws(server, FAST + "&interim=false&overload=wait") as ws:
        ws.recv()
        for k in range(10):
            chunk = pcm16(block if k == 7 else minute)  # ...in one of the ten minutes
            for i in range(0, len(chunk), 64000):
                ws.send(chunk[i : i + 64000])
        ws.send(json.dumps({"type": "end"}))
        events, close = events_until_close(ws, timeout=300)
    assert close.code == 1000
    stats = events[-1]["stats"]
    assert stats["audio_s"] == pytest.approx(600.0, abs=0.1)
    assert stats["peak_pending_s"] <= 10.0 + 2.1  # HARK_LIVE_MAX_PENDING_S, plus one message
    assert stats["peak_buffer_s"] <= 20.6  # HARK_LIVE_MAX_BUFFER_S, plus a piece
    assert stats["decodes"] <= 6  # noise is never decoded
    finals = [e["segment"] for e in events if e["type"] == "final"]
    # Random weights place words anywhere in the window: its 3 s of context included.
    assert finals and all(436.5 <= f["start"] < 452 for f in finals)


def test_diarize_labels_finals_and_their_words(server: Server, speech: np.ndarray) -> None:
    speech = speech[: 16000 * 4]
    with open_ws(server, FAST + "&diarize=true&interim=false") as ws:
        ws.recv()
        ws.send(pcm16(np.r_[speech, np.zeros(16000, np.float32)]))
        ws.send(json.dumps({"type": "end"}))
        events, close = events_until_close(ws)
    assert close.code == 1000
    finals = [e["segment"] for e in events if e["type"] == "final"]
    assert finals
    for segment in finals:
        assert segment["speaker"].startswith("SPEAKER_")
        assert {w["speaker"] for w in segment["words"]} == {segment["speaker"]}
    assert events[-1]["transcript"]["segments"][0]["speaker"] == finals[0]["speaker"]


# -- authentication -------------------------------------------------------------------------


def test_auth_header_query_and_subprotocol(keyed: Server) -> None:
    with connect(ws_url(keyed, "/v1/listen"), open_timeout=30) as ws:
        events, close = events_until_close(ws)
    assert close.code == 1008 and events[-1]["code"] == "unauthorized"
    with connect(ws_url(keyed, "/v1/listen?api_key=nope")) as ws:
        _, close = events_until_close(ws)
    assert close.code == 1008
    with connect(ws_url(keyed, "/v1/listen?api_key=k1")) as ws:
        assert json.loads(ws.recv())["type"] == "ready"
    headers = {"Authorization": "Bearer k2"}
    with connect(ws_url(keyed, "/v1/listen"), additional_headers=headers) as ws:
        assert json.loads(ws.recv())["type"] == "ready"
    with connect(ws_url(keyed, "/v1/listen"), subprotocols=["hark.v1", "hark.bearer.k1"]) as ws:  # type: ignore[list-item]
        assert ws.subprotocol == "hark.v1"
        session = json.loads(ws.recv())["session_id"]
        ws.send(pcm16(np.zeros(16000, np.float32)))
        ws.send(json.dumps({"type": "end"}))
        events_until_close(ws)
    # The transcript belongs to the key that opened the stream (empty transcripts are kept too).
    url = f"{keyed.url}/v1/listen/{session}"
    assert (
        httpx.get(url, headers={"Authorization": "Bearer k1"}, trust_env=False).status_code == 200
    )
    assert (
        httpx.get(url, headers={"Authorization": "Bearer k2"}, trust_env=False).status_code == 404
    )
    assert httpx.get(url, trust_env=False).status_code == 401


# -- OpenAI Realtime, through the SDK ---------------------------------------------------------


def pcm24(samples: np.ndarray) -> bytes:
    from scipy.signal import resample_poly

    return pcm16(resample_poly(samples, 3, 2).astype(np.float32))


async def realtime_session(
    server: Server, updates: list[dict[str, Any]], audio: bytes, extra: list[dict[str, Any]]
) -> list[Any]:
    from openai import AsyncOpenAI

    client = AsyncOpenAI(base_url=server.url + "/v1", api_key="unused")
    events: list[Any] = []
    async with client.realtime.connect(
        model="whisper-1", extra_query={"intent": "transcription"}
    ) as conn:
        for update in updates:
            await conn.send(update)  # type: ignore[arg-type]
        for i in range(0, len(audio), 4800):  # 100 ms at 24 kHz
            await conn.input_audio_buffer.append(
                audio=base64.b64encode(audio[i : i + 4800]).decode()
            )
        for event in extra:
            await conn.send(event)  # type: ignore[arg-type]
        async for event in conn:
            events.append(event)
            if event.type == "conversation.item.input_audio_transcription.completed":
                break
    return events


SESSION = {
    "type": "transcription",
    "audio": {
        "input": {
            "format": {"type": "audio/pcm", "rate": 24000},
            "transcription": {"model": "whisper-1", "language": "en"},
            "turn_detection": {"type": "server_vad", "silence_duration_ms": 500},
        }
    },
}


def test_realtime_transcription_with_the_openai_sdk(server: Server, speech: np.ndarray) -> None:
    from openai.types.realtime import (
        ConversationItemInputAudioTranscriptionCompletedEvent as Completed,
    )
    from openai.types.realtime import (
        ConversationItemInputAudioTranscriptionDeltaEvent as Delta,
    )
    from openai.types.realtime import (
        InputAudioBufferSpeechStartedEvent,
        InputAudioBufferSpeechStoppedEvent,
        RealtimeErrorEvent,
        SessionCreatedEvent,
        SessionUpdatedEvent,
    )

    audio = pcm24(np.r_[speech[: 16000 * 3], np.zeros(16000, np.float32)])
    bad = [{"type": "response.create"}, {"type": "input_audio_buffer.append", "audio": "%%%"}]
    events = asyncio.run(
        realtime_session(server, [{"type": "session.update", "session": SESSION}], audio, bad)
    )
    assert isinstance(events[0], SessionCreatedEvent)
    assert isinstance(events[1], SessionUpdatedEvent)
    assert events[1].session.audio.input.turn_detection.silence_duration_ms == 500  # type: ignore[union-attr]
    kinds = [type(e) for e in events]
    assert kinds.index(InputAudioBufferSpeechStartedEvent) < kinds.index(
        InputAudioBufferSpeechStoppedEvent
    )
    errors = [e.error for e in events if isinstance(e, RealtimeErrorEvent)]
    assert {e.code for e in errors} == {"unknown_event", "invalid_audio"}
    deltas = [e.delta for e in events if isinstance(e, Delta)]
    completed = events[-1]
    assert isinstance(completed, Completed)
    assert deltas and "".join(deltas).strip() == completed.transcript
    assert completed.usage.type == "duration"
    ids = {e.item_id for e in events if hasattr(e, "item_id")}
    assert len(ids) == 1


def test_realtime_beta_names_and_manual_commit(server: Server, speech: np.ndarray) -> None:
    from openai.types.realtime import RealtimeErrorEvent

    beta = {
        "type": "transcription_session.update",
        "session": {
            "input_audio_format": "pcm16",
            "input_audio_transcription": {"model": "whisper-1", "language": "en"},
            "turn_detection": None,
        },
    }
    commit_empty = {"type": "input_audio_buffer.commit"}
    audio = pcm24(speech[: 16000 * 2])
    events = asyncio.run(
        realtime_session(
            server, [beta, commit_empty], audio, [{"type": "input_audio_buffer.commit"}]
        )
    )
    assert events[1].type == "transcription_session.updated"
    errors = [e.error.code for e in events if isinstance(e, RealtimeErrorEvent)]
    assert errors == ["input_audio_buffer_commit_empty"]
    types = [e.type for e in events]
    assert "input_audio_buffer.speech_started" not in types  # manual turns: no VAD events
    assert types[-2:] == [
        "input_audio_buffer.committed",
        "conversation.item.input_audio_transcription.completed",
    ]
    assert events[-1].transcript


def test_realtime_hostile_input(server: Server) -> None:
    url = ws_url(server, "/v1/realtime?intent=transcription")
    with connect(url, max_size=None) as ws:
        assert json.loads(ws.recv())["type"] == "session.created"
        ws.send(b"\x00\x01")
        assert json.loads(ws.recv())["error"]["code"] == "invalid_event"
        ws.send("{oops")
        assert json.loads(ws.recv())["error"]["code"] == "invalid_json"
        ws.send(json.dumps({"type": "session.update", "session": {"type": "realtime"}}))
        error = json.loads(ws.recv())["error"]
        assert error["code"] == "invalid_value" and error["param"] == "session.type"
        fmt = {"audio": {"input": {"format": {"type": "audio/pcm", "rate": 12345}}}}
        ws.send(json.dumps({"type": "session.update", "session": fmt}))
        assert "rate" in json.loads(ws.recv())["error"]["message"]
        ws.send(json.dumps({"type": "input_audio_buffer.append", "audio": "A" * 300_000}))
        events, close = events_until_close(ws)
    assert close.code == 1009 and events[-1]["error"]["code"] == "message_too_big"
    with connect(ws_url(server, "/v1/realtime?intent=conversation")) as ws:
        events, close = events_until_close(ws)
    assert close.code == 1008 and events[-1]["error"]["code"] == "unsupported_intent"
