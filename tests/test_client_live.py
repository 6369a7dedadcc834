"""`hark.client_live` and `hark stream`'s caption printer, against a scripted WebSocket server.

The scripted server (the `websockets` library's own, on 127.0.0.1) plays the server side of
the protocol exactly as docs/live.md states it, so these tests pin the client's side: URL and
query, the bearer header, frame splitting, typed events, close codes and refused handshakes.
The real server is driven by the same client in tests/test_live_surfaces.py.
"""

from __future__ import annotations

import asyncio
import io
import json
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest
from websockets.asyncio.server import ServerConnection, serve
from websockets.datastructures import Headers
from websockets.http11 import Request, Response

import hark.client
from hark.cli_stream import CaptionPrinter, pcm16
from hark.client_live import (
    AsyncLiveClient,
    Done,
    ErrorEvent,
    Final,
    Lag,
    LiveError,
    LiveEvent,
    Partial,
    Ready,
    listen,
    parse_event,
    websocket_url,
)

SEGMENT = {
    "id": 0,
    "start": 0.5,
    "end": 1.7,
    "text": " Hello there.",
    "speaker": "SPEAKER_00",
    "words": [{"word": "Hello", "start": 0.5, "end": 0.9, "score": 0.9, "speaker": "SPEAKER_00"}],
}
TRANSCRIPT = {"segments": [SEGMENT], "language": "en"}

Handler = Callable[[ServerConnection], Awaitable[None]]


async def _with_server(handler: Handler, body: Callable[[str], Awaitable[Any]], **kw: Any) -> Any:
    async with serve(handler, "127.0.0.1", 0, **kw) as server:
        port = next(iter(server.sockets)).getsockname()[1]
        return await body(f"http://127.0.0.1:{port}")


def run(handler: Handler, body: Callable[[str], Awaitable[Any]], **kw: Any) -> Any:
    return asyncio.run(asyncio.wait_for(_with_server(handler, body, **kw), 20))


def test_a_whole_session() -> None:
    seen: dict[str, Any] = {"binary": []}

    async def server(ws: ServerConnection) -> None:
        assert ws.request is not None
        seen["path"] = ws.request.path
        seen["auth"] = ws.request.headers.get("Authorization")
        await ws.send(json.dumps({"type": "ready", "session_id": "s1", "sample_rate": 16000}))
        async for message in ws:
            if isinstance(message, bytes):
                seen["binary"].append(len(message))
                continue
            data = json.loads(message)
            if data["type"] == "flush":
                await ws.send(json.dumps({"type": "partial", "text": "hel", "start": 0.5}))
                await ws.send(json.dumps({"type": "lag", "seconds": 0.25}))
                await ws.send(json.dumps({"type": "brand-new", "x": 1}))
            elif data["type"] == "end":
                await ws.send(json.dumps({"type": "final", "segment": SEGMENT}))
                await ws.send(
                    json.dumps({"type": "done", "session_id": "s1", "transcript": TRANSCRIPT})
                )
                await ws.close(1000)
                return

    async def body(url: str) -> tuple[list[LiveEvent], Any]:
        client = AsyncLiveClient(url + "/prefix", "k3y")
        async with client.listen(language="en", diarize=True, interim=False) as live:
            assert isinstance(live.ready, Ready) and live.session_id == "s1"
            await live.send(b"\x00\x01" * 40_000)  # 80 kB: split into two frames
            await live.flush()
            await live.end()
            events = [event async for event in live]
            return events, live

    events, live = run(server, body)
    assert seen["path"] == "/prefix/v1/listen?language=en&diarize=true&interim=false"
    assert seen["auth"] == "Bearer k3y"
    assert seen["binary"] == [65536, 80_000 - 65536]
    kinds = [type(e) for e in events]
    assert kinds == [Partial, Lag, LiveEvent, Final, Done]
    partial, lag, unknown, final, done = events
    assert partial.text == "hel" and partial.start == 0.5 and partial.end is None
    assert lag.seconds == 0.25
    assert unknown.type == "brand-new" and unknown.raw["x"] == 1
    assert (final.id, final.start, final.end, final.speaker) == (0, 0.5, 1.7, "SPEAKER_00")
    assert final.text == " Hello there." and final.words[0]["word"] == "Hello"
    assert done.transcript == TRANSCRIPT and live.transcript == TRANSCRIPT


def test_finish_returns_done_and_result_is_fetched() -> None:
    async def server(ws: ServerConnection) -> None:
        await ws.send(json.dumps({"type": "ready", "session_id": "abc"}))
        async for message in ws:
            if isinstance(message, str) and json.loads(message)["type"] == "end":
                await ws.send(json.dumps({"type": "done", "session_id": "abc", "transcript": {}}))
                await ws.close()
                return

    requests: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        requests.append(request)
        if request.url.path == "/v1/listen/abc":
            return httpx.Response(200, text="1\n00:00:00,000 --> 00:00:01,000\nhi\n")
        return httpx.Response(404, json={"error": {"code": "not_found", "message": "gone"}})

    async def body(url: str) -> tuple[Done, str, LiveError]:
        client = AsyncLiveClient(url, "k", transport=httpx.MockTransport(answer))
        async with client.listen() as live:
            done = await live.finish()
            srt = await live.subtitles("srt")
        with pytest.raises(LiveError) as missing:
            await client.result("nope", "vtt")
        return done, srt, missing.value

    done, srt, missing = run(server, body)
    assert done.session_id == "abc" and srt.startswith("1\n")
    assert requests[0].url.params["output"] == "srt"
    assert requests[0].headers["authorization"] == "Bearer k"
    assert missing.status_code == 404 and "gone" in str(missing)


def test_too_many_streams_is_a_retryable_error() -> None:
    async def server(ws: ServerConnection) -> None:
        await ws.close(1013, "too many live streams (8); retry later")

    async def body(url: str) -> LiveError:
        with pytest.raises(LiveError) as info:
            async with listen(url):
                pass
        return info.value

    error = run(server, body)
    assert error.close_code == 1013 and error.retry_later
    assert "retry later" in str(error) and "too many live streams" in str(error)


def test_an_error_event_then_a_close_is_raised_with_its_message() -> None:
    async def server(ws: ServerConnection) -> None:
        await ws.send(json.dumps({"type": "ready", "session_id": "s"}))
        await ws.recv()
        await ws.send(json.dumps({"type": "error", "code": "bad_audio", "message": "not opus"}))
        await ws.close(1003, "bad data")

    async def body(url: str) -> tuple[list[LiveEvent], LiveError]:
        events: list[LiveEvent] = []
        async with listen(url, format="container") as live:
            await live.send(b"garbage")
            with pytest.raises(LiveError) as info:
                async for event in live:
                    events.append(event)
        return events, info.value

    events, error = run(server, body)
    assert [type(e) for e in events] == [ErrorEvent]
    assert error.close_code == 1003 and error.code == "bad_audio" and "not opus" in str(error)
    assert not error.retry_later


def test_a_refused_handshake_names_the_status_and_message() -> None:
    def refuse(connection: ServerConnection, request: Request) -> Response:
        body = json.dumps({"error": {"code": "unauthorized", "message": "missing API key"}})
        headers = Headers({"Content-Type": "application/json"})
        return Response(401, "Unauthorized", headers, body.encode())

    async def never(ws: ServerConnection) -> None:  # pragma: no cover - refused before
        raise AssertionError

    async def body(url: str) -> LiveError:
        with pytest.raises(LiveError) as info:
            async with listen(url):
                pass
        return info.value

    error = run(never, body, process_request=refuse)
    assert error.status_code == 401 and "missing API key" in str(error)


def test_no_server_and_bad_urls() -> None:
    async def body() -> LiveError:
        with pytest.raises(LiveError) as info:
            async with listen("http://127.0.0.1:9"):
                pass
        return info.value

    assert "cannot connect" in str(asyncio.run(body()))
    with pytest.raises(ValueError, match="not a server URL"):
        AsyncLiveClient("localhost:9080")
    assert websocket_url("https://h.example/x/", "/v1/listen", {"a": None, "b": False}) == (
        "wss://h.example/x/v1/listen?b=false"
    )


def test_exported_from_hark_client() -> None:
    assert hark.client.AsyncLiveClient is AsyncLiveClient and hark.client.listen is listen
    with pytest.raises(AttributeError):
        _ = hark.client.NoSuchThing  # type: ignore[attr-defined]
    assert isinstance(parse_event({"type": "lag"}), Lag)


def test_caption_printer() -> None:
    final = parse_event({"type": "final", "segment": SEGMENT})
    assert isinstance(final, Final)
    pipe = io.StringIO()
    printer = CaptionPrinter(pipe, tty=False, speakers=True)
    printer.partial("hel")
    printer.final(final)
    printer.final(parse_event({"type": "final", "segment": {"text": "  "}}))  # type: ignore[arg-type]
    assert pipe.getvalue() == "SPEAKER_00: Hello there.\n"

    tty = io.StringIO()
    printer = CaptionPrinter(tty, tty=True, width=20)
    printer.partial("one two three four five six")
    printer.final(final)
    text = tty.getvalue()
    first, second = text.split("\r\x1b[2K")[1:]
    assert first == "\x1b[2m…hree four five six\x1b[0m"  # the tail: 19 columns of 20
    assert second == "\x1b[2m[00:00.5]\x1b[0m Hello there.\n"


def test_pcm16() -> None:
    import numpy as np

    data = pcm16(np.array([0.0, 1.0, -1.0, 2.0], dtype=np.float32))
    assert np.frombuffer(data, "<i2").tolist() == [0, 32767, -32767, 32767]


def test_closing_from_this_side_ends_the_events_quietly() -> None:
    """A client that gives up (`close()` while another task reads) ends its event loop
    without an error, whatever the server answers; a later send names who closed the stream
    instead of "no reason given"."""

    async def server(ws: ServerConnection) -> None:
        await ws.send(json.dumps({"type": "ready", "session_id": "s"}))
        await ws.send(json.dumps({"type": "partial", "text": "hel", "start": 0, "end": 1}))
        await asyncio.sleep(2)  # busy: reads nothing more

    async def body(url: str) -> tuple[list[LiveEvent], LiveError]:
        events: list[LiveEvent] = []
        client = AsyncLiveClient(url)
        async with client.listen() as live:

            async def give_up() -> None:
                await asyncio.sleep(0.3)
                await live.close()

            closer = asyncio.create_task(give_up())
            async for event in live:
                events.append(event)
            await closer
            with pytest.raises(LiveError) as info:
                await live.send(b"\0\0")
        return events, info.value

    events, error = run(server, body)
    assert [type(e) for e in events] == [Partial]
    assert "closed by this client" in str(error)
