"""Live streams under load and misuse, over real sockets (`hark serve` on the random-weight
whisper-tiny): keepalive while the server is behind, overload=drop and overload=wait, slots
freed at once by abrupt disconnects, a client that stops reading, container flushes, and the
Realtime item lifecycle and mid-session `session.update` through the `openai` SDK."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import socket
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from websockets.sync.client import ClientConnection

from support_server import Server, shared_server, wait_for
from test_live_server import (
    FAST,
    SESSION,
    events_until_close,
    metric,
    open_ws,
    pcm16,
    pcm24,
    webm_opus,
)

# Keepalive pings every 0.5 s, answered within 0.5 s; at most 1 s of audio queued per stream;
# three streams. A stream pushed faster than it is processed is held far longer than that.
BUSY = {
    "HARK_LIVE_PING_INTERVAL_S": "0.5",
    "HARK_LIVE_PING_TIMEOUT_S": "0.5",
    "HARK_LIVE_MAX_PENDING_S": "1",
    "HARK_LIVE_MAX_STREAMS": "3",
    "HARK_LIVE_SEND_TIMEOUT_S": "3",
}


@pytest.fixture(scope="module")
def busy(test_models: Path) -> Server:
    return shared_server("live-busy", test_models, env=BUSY)


@pytest.fixture(scope="module")
def speech(shared_audio: Path) -> np.ndarray:
    from hark.audio import load_audio

    return load_audio(shared_audio / "jfk.flac")


def push(ws: ClientConnection, audio: bytes, size: int = 32000) -> None:
    """As fast as the socket takes it (1 s of 16 kHz PCM16 a message)."""
    for i in range(0, len(audio), size):
        ws.send(audio[i : i + size])


def test_drop_keeps_a_fast_stream_open_and_says_what_it_dropped(
    busy: Server, speech: np.ndarray
) -> None:
    """30 s of speech pushed at once against a 1-s queue: the server stays behind for many
    ping timeouts, keeps reading (pongs included), drops the oldest audio and says so."""
    dropped_before = metric(busy, "hark_live_dropped_seconds_total")
    audio = pcm16(np.tile(speech, 3)[: 16000 * 30])
    with open_ws(busy, ping_interval=None) as ws:
        assert json.loads(ws.recv())["overload"] == "drop"
        push(ws, audio)
        time.sleep(2.0)  # still behind: several keepalive rounds
        ws.send(json.dumps({"type": "end"}))
        events, close = events_until_close(ws)
    assert close.code == 1000, close
    done = events[-1]
    assert done["type"] == "done"
    stats = done["stats"]
    assert stats["dropped_s"] > 5
    assert stats["audio_s"] + stats["dropped_s"] == pytest.approx(30.0, abs=0.01)
    # Times are on the sender's clock: the transcript spans all 30 s sent.
    assert done["transcript"]["duration"] == pytest.approx(30.0, abs=0.01)
    assert all(s["end"] <= 30.0 + 1e-3 for s in done["transcript"]["segments"])
    assert stats["peak_pending_s"] <= 1.0 + 1e-3  # the queue never exceeds its bound
    lags = [e for e in events if e["type"] == "lag"]
    assert lags and lags[-1]["dropped_s"] <= stats["dropped_s"]
    counted = metric(busy, "hark_live_dropped_seconds_total") - dropped_before
    assert counted == pytest.approx(stats["dropped_s"], abs=0.01)


def test_wait_holds_a_fast_stream_back_without_a_keepalive_close(
    busy: Server, speech: np.ndarray
) -> None:
    """overload=wait: lossless; the socket is not read while the session catches up (TCP
    slows the client down), for much longer than the ping timeout, and the stream lives."""
    audio = pcm16(np.tile(speech, 3)[: 16000 * 30])
    with open_ws(busy, FAST + "&overload=wait", ping_interval=None) as ws:
        assert json.loads(ws.recv())["overload"] == "wait"
        started = time.monotonic()
        push(ws, audio)
        ws.send(json.dumps({"type": "end"}))
        events, close = events_until_close(ws)
        held = time.monotonic() - started
    assert close.code == 1000, close
    stats = events[-1]["stats"]
    assert stats["audio_s"] == pytest.approx(30.0, abs=0.01) and stats["dropped_s"] == 0
    assert stats["peak_pending_s"] <= 1.0 + 1.0 + 1e-3  # the bound plus one message
    assert held > 2 * 0.5  # held back for longer than a ping interval plus its timeout


def test_the_client_keeps_a_held_back_stream_past_its_own_ping_timeout(
    busy: Server, speech: np.ndarray
) -> None:
    """hark.client_live with a 0.3-s pong timeout pushes 30 s of speech with overload=wait:
    its pings sit in the TCP stream behind audio the server is not reading yet, far longer
    than that; the client must not close the stream for it (it did: 1011 "keepalive ping
    timeout" after 60 s when an hour was sent at 20x, bench/stream_memory.py)."""
    from hark.client_live import AsyncLiveClient

    audio = pcm16(np.tile(speech, 3)[: 16000 * 30])

    async def main() -> tuple[dict[str, Any], float]:
        client = AsyncLiveClient(busy.url, ping_interval=0.2, ping_timeout=0.3)
        async with client.listen(language="en", overload="wait") as live:
            assert live.ready is not None and live.ready.overload == "wait"
            started = time.monotonic()
            await live.send(audio)
            done = await live.finish()
            return done.raw["stats"], time.monotonic() - started

    stats, held = asyncio.run(main())
    assert stats["audio_s"] == pytest.approx(30.0, abs=0.01) and stats["dropped_s"] == 0
    assert held > 2 * 0.3  # held back for longer than the client's pong timeout


def test_abrupt_disconnects_free_their_slots_at_once(busy: Server, speech: np.ndarray) -> None:
    """All three slots taken by streams that are behind, then their TCP connections dropped
    without a close frame while their audio is still queued: the slots come free within
    seconds (not when the queued decodes finish) and three new streams are accepted."""
    audio = pcm16(np.tile(speech, 2))
    with contextlib.ExitStack() as stack:
        streams = [stack.enter_context(open_ws(busy, ping_interval=None)) for _ in range(3)]
        for ws in streams:
            assert json.loads(ws.recv())["type"] == "ready"
        for ws in streams:
            push(ws, audio)
        wait_for(lambda: metric(busy, "hark_live_streams") == 3, 10)
        for ws in streams:
            ws.socket.shutdown(socket.SHUT_RDWR)
            ws.socket.close()
        # The EOFs reach the server's readers asynchronously, so not before the next connect.
        wait_for(lambda: metric(busy, "hark_live_streams") == 0, 3)
        fresh = [stack.enter_context(open_ws(busy, ping_interval=None)) for _ in range(3)]
        firsts = [json.loads(ws.recv(timeout=30)) for ws in fresh]
        assert [e["type"] for e in firsts] == ["ready"] * 3, firsts
    wait_for(lambda: metric(busy, "hark_live_streams") == 0, 10)


def raw_websocket(server: Server, path: str) -> socket.socket:
    """A WebSocket opened by hand on a socket with a small receive buffer, whose events we
    never read."""
    raw = socket.socket()
    raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    raw.connect(("127.0.0.1", int(server.url.rsplit(":", 1)[1])))
    key = base64.b64encode(b"0123456789abcdef").decode()
    raw.sendall(
        (
            f"GET {path} HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
            "Sec-WebSocket-Version: 13\r\n\r\n"
        ).encode()
    )
    return raw


def text_frame(text: str) -> bytes:
    """A masked (client) text frame, under 64 KiB."""
    payload, mask = text.encode(), b"\x01\x02\x03\x04"
    masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    size = bytes([len(payload)]) if len(payload) < 126 else b"\x7e" + len(payload).to_bytes(2)
    return b"\x81" + bytes([0x80 | size[0]]) + size[1:] + mask + masked


@pytest.mark.parametrize("guard", ["send_timeout", "tcp_user_timeout"])
def test_a_client_that_stops_reading_loses_its_slot(
    guard: str, busy: Server, test_models: Path
) -> None:
    """Each bad append is answered with an error event; a client that sends them without
    reading fills the socket buffers and our send waits. Either guard frees the slot: the
    app's send timeout (2 s here, with the default keepalive, so TCP_USER_TIMEOUT is 40 s), or
    the kernel's TCP_USER_TIMEOUT (1 s on the busy server) on a receive window that stays shut."""
    if guard == "send_timeout":
        busy = shared_server("live-slow", test_models, env={"HARK_LIVE_SEND_TIMEOUT_S": "2"})
    before = metric(busy, "hark_live_streams")
    raw = raw_websocket(busy, "/v1/realtime?intent=transcription")
    raw.settimeout(0.2)
    try:
        wait_for(lambda: metric(busy, "hark_live_streams") == before + 1, 10)
        frame = text_frame(json.dumps({"type": "input_audio_buffer.append", "audio": "%%"}))
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:  # until the server stops reading us
            try:
                raw.sendall(frame * 50)
            except (TimeoutError, OSError):
                break
        else:
            pytest.fail("the server kept reading a client that reads nothing")
        wait_for(lambda: metric(busy, "hark_live_streams") == before, 15)
    finally:
        raw.close()


@pytest.mark.parametrize("fmt", ["webm", "ogg"])
def test_container_flush_finalises_every_byte_sent_before_it(
    busy: Server, speech: np.ndarray, fmt: str
) -> None:
    """The whole container in one message, then at once a flush: the flush waits for the
    decoder thread to decode those bytes, so a final comes before `end`, and `end` finds
    nothing left to finalise."""
    data = container(speech[: 16000 * 3], fmt)
    with open_ws(busy, FAST + "&format=container&interim=false") as ws:
        ws.recv()
        ws.send(data)
        ws.send(json.dumps({"type": "flush"}))
        first = json.loads(ws.recv(timeout=60))
        while first["type"] == "lag":
            first = json.loads(ws.recv(timeout=60))
        assert first["type"] == "final", first
        ws.send(json.dumps({"type": "end"}))
        events, close = events_until_close(ws)
    assert close.code == 1000
    assert not [e for e in events if e["type"] == "final"]
    assert events[-1]["stats"]["audio_s"] == pytest.approx(3.0, abs=0.05)


def container(samples: np.ndarray, fmt: str) -> bytes:
    return webm_opus(samples, fmt)


# -- OpenAI Realtime ------------------------------------------------------------------------


async def realtime_turns(server: Server, speech: np.ndarray) -> list[Any]:
    """Turn 1 with server VAD; then a session.update (turn detection off, another prompt)
    and one that tries another input format; turn 2 committed by hand."""
    from openai import AsyncOpenAI

    client = AsyncOpenAI(base_url=server.url + "/v1", api_key="unused")
    events: list[Any] = []
    # Prepared before connecting: the client's loop must stay free to answer the server's
    # pings (every 0.5 s here).
    turn1 = pcm24(np.r_[speech[: 16000 * 3], np.zeros(16000, np.float32)])
    turn2 = pcm24(speech[16000 * 3 : 16000 * 6])

    async def until(kind: str) -> None:
        async for event in conn:
            events.append(event)
            if event.type == kind:
                return

    async def send_audio(audio: bytes) -> None:
        for i in range(0, len(audio), 4800):
            await conn.input_audio_buffer.append(
                audio=base64.b64encode(audio[i : i + 4800]).decode()
            )

    async with client.realtime.connect(
        model="whisper-1", extra_query={"intent": "transcription"}
    ) as conn:
        await conn.send({"type": "session.update", "session": SESSION})  # type: ignore[arg-type]
        await send_audio(turn1)
        await until("conversation.item.done")
        manual = {
            "type": "transcription",
            "audio": {
                "input": {
                    "transcription": {"model": "whisper-1", "language": "en", "prompt": "JFK."},
                    "turn_detection": None,
                }
            },
        }
        await conn.send({"type": "session.update", "session": manual})  # type: ignore[arg-type]
        other = {"type": "transcription", "audio": {"input": {"format": {"type": "audio/pcmu"}}}}
        await conn.send({"type": "session.update", "session": other})  # type: ignore[arg-type]
        await send_audio(turn2)
        await conn.send({"type": "input_audio_buffer.commit"})  # type: ignore[arg-type]
        await until("conversation.item.done")
    return events


def test_realtime_items_and_a_session_update_mid_session(busy: Server, speech: np.ndarray) -> None:
    from openai.types.realtime import (
        ConversationItemAdded,
        ConversationItemDone,
        RealtimeErrorEvent,
        SessionUpdatedEvent,
    )
    from openai.types.realtime import (
        ConversationItemInputAudioTranscriptionCompletedEvent as Completed,
    )
    from openai.types.realtime import (
        ConversationItemInputAudioTranscriptionDeltaEvent as Delta,
    )

    events = asyncio.run(realtime_turns(busy, speech))
    added = [e for e in events if isinstance(e, ConversationItemAdded)]
    done = [e for e in events if isinstance(e, ConversationItemDone)]
    assert len(added) == len(done) == 2
    first, second = (e.item.id for e in added)
    assert first != second and added[1].previous_item_id == first
    for item_id in (first, second):
        # The item is announced before any event about it, and done after its completion.
        about = [i for i, e in enumerate(events) if getattr(e, "item_id", None) == item_id]
        start = next(i for i, e in enumerate(events) if e in added and e.item.id == item_id)
        end = next(i for i, e in enumerate(events) if e in done and e.item.id == item_id)
        assert about and start < min(about) and max(about) < end
        completed = next(e for e in events if isinstance(e, Completed) and e.item_id == item_id)
        deltas = "".join(e.delta for e in events if isinstance(e, Delta) and e.item_id == item_id)
        item = next(e.item for e in done if e.item.id == item_id)
        assert item.status == "completed" and item.role == "user"  # type: ignore[union-attr]
        assert item.content[0].transcript == completed.transcript == deltas.strip()  # type: ignore[union-attr]
    # The update after audio applied (from the next item on); the format change did not.
    updated = [e for e in events if isinstance(e, SessionUpdatedEvent)]
    assert len(updated) == 2
    assert updated[1].session.audio.input.turn_detection is None  # type: ignore[union-attr]
    errors = [e.error for e in events if isinstance(e, RealtimeErrorEvent)]
    assert [(e.code, e.param) for e in errors] == [
        ("session_update_too_late", "session.audio.input.format")
    ]
    assert "format" in errors[0].message
    # Turn 2 had no server VAD: no speech events name it; the commit ended it.
    kinds = {e.type for e in events if getattr(e, "item_id", None) == second}
    assert "input_audio_buffer.speech_started" not in kinds
    assert "input_audio_buffer.committed" in kinds


def test_cli_stdin_waits_by_default_and_warns_when_drop_loses_audio(
    busy: Server, speech: np.ndarray
) -> None:
    """`hark stream -` cannot know a pipe's pace, so it asks for `overload=wait`: 20 s pushed
    at once through a 1-s queue lose nothing. With `--overload drop` the server drops audio
    and the CLI says how much on stderr."""
    from typer.testing import CliRunner

    from hark.cli import app

    audio = pcm16(np.tile(speech, 2)[: 16000 * 20])
    runner = CliRunner()
    base = ["stream", "-", "--url", busy.url, *(f"-O{kv}" for kv in FAST.split("&"))]
    dropped_before = metric(busy, "hark_live_dropped_seconds_total")
    waited = runner.invoke(app, base, input=audio)
    assert waited.exit_code == 0, waited.output
    assert "dropped" not in waited.output
    assert metric(busy, "hark_live_dropped_seconds_total") == dropped_before

    dropped = runner.invoke(app, [*base, "--overload", "drop"], input=audio)
    assert dropped.exit_code == 0, dropped.output
    assert "dropped" in dropped.output and "--overload wait" in dropped.output
    assert metric(busy, "hark_live_dropped_seconds_total") > dropped_before

    wrong = runner.invoke(app, [*base, "--overload", "later"], input=b"")
    assert wrong.exit_code == 2 and "drop or wait" in wrong.output
