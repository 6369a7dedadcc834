"""An async client for live transcription over Hark's native WebSocket (`GET /v1/listen`).

    async with listen("http://localhost:9080", language="en") as live:
        await live.send(pcm16_bytes)          # 16 kHz mono signed 16-bit little-endian
        await live.end()                      # no more audio: the server sends what is left
        async for event in live:              # Ready, Partial, Final, Lag, Error, Done
            if isinstance(event, Final):
                print(event.text)
    srt = await live.subtitles("srt")         # the session's result, rendered by the server

Sending and receiving are independent: a real-time source sends from one task while another
iterates the events. The protocol is described in docs/live.md; events arrive as the typed,
frozen dataclasses below (anything unknown as `LiveEvent` with its raw JSON).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any
from urllib.parse import urlencode, urlsplit, urlunsplit

import httpx
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

__all__ = [
    "AsyncLiveClient",
    "Done",
    "ErrorEvent",
    "Final",
    "Lag",
    "LiveError",
    "LiveEvent",
    "LiveSession",
    "Partial",
    "Ready",
    "listen",
]

# Close codes the protocol uses (RFC 6455 numbers).
NORMAL, POLICY, TRY_AGAIN_LATER = 1000, 1008, 1013
# A binary frame carries at most this much audio (the server's own limit is larger); larger
# `send`s are split, so a caller can hand over a whole buffer at once.
MAX_FRAME_BYTES = 64 * 1024


class LiveError(RuntimeError):
    """The server refused the stream or closed it abnormally.

    `status_code` is the HTTP status of a refused handshake (401, 403, 404...), `close_code`
    the WebSocket close code (1013: too many streams, retry later; 1008: auth or policy;
    1003: undecodable audio), `code` the `error` event's code when one came first."""

    def __init__(
        self,
        message: str,
        *,
        status_code: int | None = None,
        close_code: int | None = None,
        code: str | None = None,
    ) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.close_code = close_code
        self.code = code

    @property
    def retry_later(self) -> bool:
        """The server is full (close 1013): the same request may succeed later."""
        return self.close_code == TRY_AGAIN_LATER


# ------------------------------------------------------------------------------ events


@dataclass(frozen=True)
class LiveEvent:
    """Any server event; `raw` is its JSON object."""

    type: str
    raw: dict[str, Any] = field(repr=False)


@dataclass(frozen=True)
class Ready(LiveEvent):
    """The session is open; audio may flow."""

    session_id: str
    sample_rate: int
    format: str
    language: str | None
    overload: str | None = None  # "drop" or "wait" (what the stream does at its bound)


@dataclass(frozen=True)
class Partial(LiveEvent):
    """The revisable tail after the last final; replaces the previous partial ("" clears)."""

    text: str
    start: float | None
    end: float | None


@dataclass(frozen=True)
class Final(LiveEvent):
    """A committed segment (never revised); times are seconds from the session start."""

    segment: dict[str, Any]

    @property
    def id(self) -> int | None:
        return self.segment.get("id")

    @property
    def text(self) -> str:
        return str(self.segment.get("text", ""))

    @property
    def start(self) -> float:
        return float(self.segment.get("start", 0.0))

    @property
    def end(self) -> float:
        return float(self.segment.get("end", 0.0))

    @property
    def speaker(self) -> str | None:
        return self.segment.get("speaker")

    @property
    def words(self) -> list[dict[str, Any]]:
        return list(self.segment.get("words") or [])


@dataclass(frozen=True)
class Lag(LiveEvent):
    """Seconds of audio received but not yet decoded, and the audio the server dropped so
    far because the stream came faster than it was transcribed (`overload="drop"`)."""

    seconds: float
    dropped_s: float = 0.0


@dataclass(frozen=True)
class ErrorEvent(LiveEvent):
    """An error the server reported; fatal ones are followed by a close."""

    code: str
    message: str


@dataclass(frozen=True)
class Done(LiveEvent):
    """The session ended; `transcript` is the whole session in `/asr?output=json` form."""

    session_id: str
    transcript: dict[str, Any]

    @property
    def dropped_s(self) -> float:
        """Seconds of the stream's audio the server dropped (never transcribed)."""
        return float((self.raw.get("stats") or {}).get("dropped_s") or 0.0)


def parse_event(data: dict[str, Any]) -> LiveEvent:
    """A server JSON message as its typed event (unknown types stay `LiveEvent`)."""
    kind = str(data.get("type", ""))
    if kind == "ready":
        return Ready(
            kind,
            data,
            session_id=str(data.get("session_id", "")),
            sample_rate=int(data.get("sample_rate") or 16000),
            format=str(data.get("format") or "pcm16"),
            language=data.get("language"),
            overload=data.get("overload"),
        )
    if kind == "partial":
        return Partial(kind, data, str(data.get("text", "")), data.get("start"), data.get("end"))
    if kind == "final":
        return Final(kind, data, dict(data.get("segment") or {}))
    if kind == "lag":
        return Lag(
            kind, data, float(data.get("seconds") or 0.0), float(data.get("dropped_s") or 0.0)
        )
    if kind == "error":
        return ErrorEvent(kind, data, str(data.get("code", "")), str(data.get("message", "")))
    if kind == "done":
        return Done(kind, data, str(data.get("session_id", "")), dict(data.get("transcript") or {}))
    return LiveEvent(kind, data)


# ------------------------------------------------------------------------------ urls


def websocket_url(base_url: str, path: str, params: dict[str, Any]) -> str:
    """`http(s)://host[/prefix]` (or ws/wss) + path as a ws(s) URL with query parameters."""
    parts = urlsplit(base_url.rstrip("/"))
    scheme = {"http": "ws", "https": "wss", "ws": "ws", "wss": "wss"}.get(parts.scheme)
    if scheme is None or not parts.netloc:
        raise ValueError(f"not a server URL: {base_url!r} (want http://host:port)")
    query = urlencode({k: _query_value(v) for k, v in params.items() if v is not None})
    return urlunsplit((scheme, parts.netloc, parts.path + path, query, ""))


def _query_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | tuple):
        return ",".join(_query_value(v) for v in value)
    return str(value)


def http_url(base_url: str) -> str:
    """The HTTP form of a server URL (ws/wss become http/https)."""
    parts = urlsplit(base_url.rstrip("/"))
    scheme = {"ws": "http", "wss": "https"}.get(parts.scheme, parts.scheme)
    return urlunsplit((scheme, parts.netloc, parts.path, "", ""))


# ------------------------------------------------------------------------------ session


class LiveSession:
    """One open stream. Made by `AsyncLiveClient.listen` / `listen`; use `async with`."""

    def __init__(self, client: AsyncLiveClient, params: dict[str, Any]) -> None:
        self._client = client
        self._params = params
        self._ws: ClientConnection | None = None
        self._last_error: ErrorEvent | None = None
        self._closing = False  # close() was called here: the end of the events is ours
        self.ready: Ready | None = None
        self.done: Done | None = None

    @property
    def session_id(self) -> str | None:
        return self.ready.session_id if self.ready else None

    @property
    def transcript(self) -> dict[str, Any] | None:
        """The whole session (after `Done`)."""
        return self.done.transcript if self.done else None

    async def __aenter__(self) -> LiveSession:
        await self.open()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def open(self) -> Ready:
        """Connect and wait for the server's `ready`."""
        url = websocket_url(self._client.base_url, "/v1/listen", self._params)
        headers = self._client.headers()
        try:
            self._ws = await connect(
                url,
                additional_headers=headers,
                max_size=self._client.max_message_bytes,
                open_timeout=self._client.open_timeout,
                # Pings from this side stay on (a dead server is noticed), with a generous
                # timeout: a busy server answers late but answers. Not for a held-back stream
                # (below).
                ping_interval=self._client.ping_interval,
                ping_timeout=None if self._held_back(None) else self._client.ping_timeout,
            )
        except InvalidStatus as exc:
            status = exc.response.status_code
            body = exc.response.body.decode("utf-8", "replace") if exc.response.body else ""
            raise LiveError(
                f"{url.split('?')[0]}: HTTP {status}: {_error_message(body)}", status_code=status
            ) from None
        except OSError as exc:
            raise LiveError(f"cannot connect to {self._client.base_url}: {exc}") from exc
        while (event := await self._next_event()) is not None:
            if isinstance(event, Ready):
                self.ready = event
                if self._held_back(event):
                    # Read by websockets' keepalive loop before each ping; no ping is out yet.
                    self._ws.ping_timeout = None
                return event
        raise LiveError("the server closed the stream before it was ready")

    async def send(self, audio: bytes | bytearray | memoryview) -> None:
        """Audio bytes, in the session's format (PCM16 mono by default)."""
        ws = self._open_ws()
        view = memoryview(audio).cast("B")
        try:
            for start in range(0, len(view), MAX_FRAME_BYTES):
                await ws.send(bytes(view[start : start + MAX_FRAME_BYTES]))
        except ConnectionClosed as exc:
            raise self._closed_error(exc) from None

    async def flush(self) -> None:
        """Ask the server to finalize everything heard so far now."""
        await self._send_json({"type": "flush"})

    async def end(self) -> None:
        """No more audio: the server sends the remaining finals, `done`, and closes."""
        await self._send_json({"type": "end"})

    async def close(self) -> None:
        """Close the stream now (no `done` follows; `finish()` waits for it). Events still
        being read end quietly, whatever close code the server answers with, or none."""
        self._closing = True
        if self._ws is not None:
            await self._ws.close()

    def __aiter__(self) -> AsyncIterator[LiveEvent]:
        return self._events()

    async def finish(self) -> Done:
        """`end()`, then read the events up to `done` (returned; also `self.done`)."""
        await self.end()
        async for _ in self._events():
            pass
        if self.done is None:
            raise LiveError("the stream closed without a done event")
        return self.done

    async def subtitles(self, output: str = "srt") -> str:
        """The finished session rendered by the server: srt, vtt, json or txt."""
        if self.session_id is None:
            raise LiveError("the session never opened")
        return await self._client.result(self.session_id, output)

    # -- internals ---------------------------------------------------------------------

    def _held_back(self, ready: Ready | None) -> bool:
        """The server may hold this stream back (overload=wait, asked for or the server's
        default). Its pong to our ping then comes only once the server has read all the audio
        sent before the ping, which at a high `--speed` is minutes of work queued in the TCP
        buffers: no pong timeout can tell that from a dead server, so none is applied (a
        server that exits still closes the connection)."""
        overload = ready.overload if ready is not None else None
        return (overload or self._params.get("overload")) == "wait"

    def _open_ws(self) -> ClientConnection:
        if self._ws is None:
            raise LiveError("the session is not open (use `async with`)")
        return self._ws

    async def _send_json(self, message: dict[str, Any]) -> None:
        try:
            await self._open_ws().send(json.dumps(message))
        except ConnectionClosed as exc:
            raise self._closed_error(exc) from None

    async def _events(self) -> AsyncIterator[LiveEvent]:
        while (event := await self._next_event()) is not None:
            yield event

    async def _next_event(self) -> LiveEvent | None:
        """The next server event; None once the server closed normally."""
        ws = self._open_ws()
        while True:
            try:
                message = await ws.recv()
            except ConnectionClosed as exc:
                if self._closing or (exc.rcvd is not None and exc.rcvd.code == NORMAL):
                    return None
                raise self._closed_error(exc) from None
            if isinstance(message, bytes):
                continue  # the protocol sends no binary frames; ignore rather than fail
            try:
                data = json.loads(message)
            except ValueError:
                continue
            if not isinstance(data, dict):
                continue
            event = parse_event(data)
            if isinstance(event, ErrorEvent):
                self._last_error = event
            elif isinstance(event, Done):
                self.done = event
            return event

    def _closed_error(self, exc: ConnectionClosed) -> LiveError:
        close = exc.rcvd
        code = close.code if close else None
        reason = close.reason if close and close.reason else ""
        if self._last_error is not None:
            detail = f"{self._last_error.code}: {self._last_error.message}"
        elif self._closing:
            detail = "closed by this client (close() was called)"
        else:
            detail = reason or "no reason given"
        what = {TRY_AGAIN_LATER: "server busy, retry later", POLICY: "refused"}.get(code or 0)
        head = f"stream closed ({code}{', ' + what if what else ''})"
        return LiveError(
            f"{head}: {detail}",
            close_code=code,
            code=self._last_error.code if self._last_error else None,
        )


class AsyncLiveClient:
    """A Hark server for live streams: `listen(...)` opens one, `result(...)` fetches one.

    `base_url` is the server (`http://host:9080`, any path prefix kept); `api_key` is sent as
    a bearer token on the handshake and on result downloads. `ping_interval` /
    `ping_timeout` are the stream's WebSocket keepalive (a stream the server may hold back,
    overload=wait, gets no pong timeout: its pongs wait behind the audio not yet read)."""

    def __init__(
        self,
        base_url: str,
        api_key: str | None = None,
        *,
        open_timeout: float = 30.0,
        max_message_bytes: int = 16 * 1024 * 1024,
        transport: httpx.AsyncBaseTransport | None = None,
        ping_interval: float | None = 20.0,
        ping_timeout: float | None = 60.0,
    ) -> None:
        websocket_url(base_url, "", {})  # fail early on a malformed URL
        self.base_url = base_url.rstrip("/")
        self.api_key = api_key
        self.open_timeout = open_timeout
        self.max_message_bytes = max_message_bytes
        # WebSocket keepalive: a ping this often, the stream closed (1011) when its pong is
        # `ping_timeout` late; overload=wait streams get no timeout (LiveSession._held_back).
        self.ping_interval = ping_interval
        self.ping_timeout = ping_timeout
        self._transport = transport

    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}

    def listen(
        self,
        *,
        language: str | None = None,
        task: str | None = None,
        diarize: bool | None = None,
        format: str | None = None,
        sample_rate: int | None = None,
        interim: bool | None = None,
        overload: str | None = None,
        **options: Any,
    ) -> LiveSession:
        """A stream (open it with `async with`); unset options keep the server's defaults.
        `overload` is what the server does when audio comes faster than it is transcribed:
        "drop" the oldest (real-time sources) or "wait" (hold back the socket: lossless, for
        audio sent faster than real time).
        `options` are decoding options the live route accepts (`beam_size`, `temperature`,
        `max_new_tokens`, `initial_prompt`, `hotwords`, ...; lists are sent comma-joined)."""
        params = dict(
            language=language,
            task=task,
            diarize=diarize,
            format=format,
            sample_rate=sample_rate,
            interim=interim,
            overload=overload,
            **options,
        )
        return LiveSession(self, params)

    async def result(self, session_id: str, output: str = "json") -> str:
        """`GET /v1/listen/{session_id}?output=...`: a finished session, as text."""
        async with httpx.AsyncClient(
            base_url=http_url(self.base_url),
            headers=self.headers(),
            timeout=60,
            transport=self._transport,
        ) as http:
            response = await http.get(f"/v1/listen/{session_id}", params={"output": output})
        if response.is_error:
            raise LiveError(
                f"GET /v1/listen/{session_id}: HTTP {response.status_code}: "
                f"{_error_message(response.text)}",
                status_code=response.status_code,
            )
        return response.text


def listen(base_url: str, api_key: str | None = None, **options: Any) -> LiveSession:
    """`AsyncLiveClient(base_url, api_key).listen(**options)`, for one stream."""
    return AsyncLiveClient(base_url, api_key).listen(**options)


def _error_message(body: str) -> str:
    """The message of Hark's `{"error": {...}}` body, else the body's start."""
    try:
        data = json.loads(body)
    except ValueError:
        return body[:200] or "no body"
    error = data.get("error") if isinstance(data, dict) else None
    if isinstance(error, dict):
        return str(error.get("message") or error.get("code") or error)
    if isinstance(data, dict) and "detail" in data:
        return str(data["detail"])
    return body[:200]
