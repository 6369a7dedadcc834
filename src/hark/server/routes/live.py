"""Live transcription, Hark's own protocol: `GET /v1/listen` (WebSocket) and the finished
session's transcript at `GET /v1/listen/{session_id}` (docs/live.md)."""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
import threading
import time
import uuid
from typing import Any

from fastapi import APIRouter, Depends, Request, Response
from pydantic import TypeAdapter, ValidationError
from starlette.websockets import WebSocket, WebSocketDisconnect

from hark.formats import content_type, render
from hark.live.container import ContainerDecoder, PipeClosed
from hark.live.events import Final, Partial
from hark.live.pcm import PcmDecoder
from hark.live.session import LiveSession
from hark.server.auth import caller, require_key
from hark.server.errors import ApiError
from hark.server.params import choice
from hark.server.state import ServerState, get_state
from hark.server.streams import (
    Audio,
    Control,
    Inbox,
    StreamConfig,
    StreamFailure,
    Timeline,
    admit,
    close_with,
    live_options,
    new_session,
    observe_latency,
    parse_overload,
    queue_audio,
    release,
    send_event,
    stream_stats,
    supervise,
)

router = APIRouter(tags=["Live"])

# Stream parameters besides TranscribeOptions fields; api_key is authentication.
STREAM_PARAMS = ("format", "sample_rate", "interim", "diarize", "overload", "api_key")
# TranscribeOptions a stream may set (the rest are about files: alignment, channels, ...).
OPTION_PARAMS = (
    "language",
    "task",
    "beam_size",
    "best_of",
    "temperature",
    "initial_prompt",
    "hotwords",
    "suppress_tokens",
    "suppress_numerals",
    "max_new_tokens",
    "vad_onset",
    "vad_offset",
    "no_speech_threshold",
    "log_prob_threshold",
    "compression_ratio_threshold",
    "repetition_penalty",
    "no_repeat_ngram_size",
)
OUTPUTS = ("json", "txt", "srt", "vtt", "tsv")
_BOOL = TypeAdapter(bool)


StreamError = StreamFailure  # an error event, then a close with `close_code`


def _error(code: str, message: str) -> dict[str, Any]:
    return {"type": "error", "code": code, "message": message}


@router.websocket("/v1/listen")
async def listen(ws: WebSocket) -> None:
    state: ServerState = ws.app.state.hark
    admission = await admit(ws, state, _error, ("hark.v1",))
    if admission is None:
        return
    stream = NativeStream(ws, state, admission.caller)
    try:
        await stream.run()
    finally:
        stream.close()
        release(state)


@router.get(
    "/v1/listen/{session_id}",
    dependencies=[Depends(require_key)],
    summary="A finished live session's transcript (json, txt, srt, vtt, tsv)",
)
async def listen_result(session_id: str, request: Request, output: str = "json") -> Response:
    state = get_state(request)
    fmt = choice({"output": output}, "output", OUTPUTS, "json")
    stored = state.live.result(session_id)
    owner = caller(request)
    if stored is None or (stored.owner is not None and stored.owner != owner):
        raise ApiError(
            404,
            "not_found",
            f"no live session {session_id!r}: finished sessions are kept "
            f"{state.settings.live_result_ttl_s:g} s, for the key that opened them",
        )
    return Response(render(stored.transcript, fmt), media_type=content_type(fmt))


class NativeStream:
    def __init__(self, ws: WebSocket, state: ServerState, owner: str | None) -> None:
        self.ws = ws
        self.state = state
        self.owner = owner
        self.id = "live_" + uuid.uuid4().hex[:20]
        self.settings = state.settings
        self.overload = self.settings.live_overload
        self.inbox = Inbox(self.settings.live_max_pending_s, self.overload)
        self.timeline = Timeline()  # times sent are on the sender's clock, past dropped audio
        self.cancel = threading.Event()
        self.format = "pcm16"
        self.sample_rate = 16000
        self.config = StreamConfig(live_options(state, {}))
        self.session: LiveSession | None = None
        self.pcm: PcmDecoder | None = None
        self.container: ContainerDecoder | None = None
        self.started = False  # audio has arrived: the configuration is fixed
        self.ended = False
        self.closed = False
        self._last_lag = time.monotonic()
        self._reported_dropped = 0.0
        self._loop = asyncio.get_running_loop()

    # -- the stream -------------------------------------------------------------------------

    async def run(self) -> None:
        try:
            self.configure(dict(self.ws.query_params))
        except StreamError as exc:
            await self.fail(exc)
            return
        await supervise(self.id, self.send_ready(), self.process(), self.fail)

    async def send_ready(self) -> None:
        await self.send(self.ready())
        await self.receive()

    def close(self) -> None:
        """Free everything at once: the decoder thread, queued audio, the session's buffer
        (the transcript so far stays downloadable)."""
        self.closed = True
        if self.container is not None:
            self.container.abort()
        if self.session is not None and self.session.finals:
            self.state.live.store(self.id, self.owner, self.transcript())
        self.session = None
        self.cancel.set()  # a window of this stream still queued is dropped
        self.inbox.clear()

    async def fail(self, exc: StreamError) -> None:
        event, timeout = _error(exc.code, exc.message), self.settings.live_send_timeout_s
        await close_with(self.ws, event, exc.close_code, exc.message, timeout)

    async def send(self, event: dict[str, Any]) -> None:
        await send_event(self.ws, event, self.settings.live_send_timeout_s)

    def ready(self) -> dict[str, Any]:
        return {
            "type": "ready",
            "session_id": self.id,
            "sample_rate": self.sample_rate,
            "format": self.format,
            "language": self.config.options.language,
            "overload": self.overload,
        }

    def transcript(self) -> Any:
        assert self.session is not None
        transcript = self.session.transcript(
            self.state.engine.model_info if self.state.engine else None,
            self.config.options.task,
        )
        return self.timeline.transcript(transcript)

    # -- configuration -----------------------------------------------------------------------

    def configure(self, fields: dict[str, Any]) -> None:
        known = set(STREAM_PARAMS) | set(OPTION_PARAMS) | {"type"}
        unknown = sorted(k for k in fields if k not in known)
        if unknown:
            raise StreamError(
                "invalid_parameter",
                f"unknown parameter(s): {', '.join(unknown)}; valid: "
                f"{', '.join(STREAM_PARAMS[:-1] + OPTION_PARAMS)}",
                1008,
            )
        fmt = str(fields.get("format", self.format)).lower()
        if fmt not in ("pcm16", "container"):
            raise StreamError("invalid_parameter", "format must be pcm16 or container", 1008)
        try:
            overload = parse_overload(fields.get("overload", self.overload))
            rate = int(fields.get("sample_rate", self.sample_rate))
            PcmDecoder(rate)
            interim = _BOOL.validate_python(fields.get("interim", self.config.interim))
            diarize = _BOOL.validate_python(fields.get("diarize", self.config.diarize))
            values = {k: fields[k] for k in OPTION_PARAMS if k in fields and fields[k] != ""}
            if isinstance(values.get("temperature"), str):
                values["temperature"] = values["temperature"].split(",")
            if isinstance(values.get("suppress_tokens"), str):
                values["suppress_tokens"] = values["suppress_tokens"].split(",")
            current = self.config.options.model_dump(include=set(OPTION_PARAMS))
            options = live_options(self.state, {**current, **values})
        except (ValueError, ValidationError) as exc:
            raise StreamError("invalid_parameter", _short(exc), 1008) from None
        self.format, self.sample_rate = fmt, rate
        self.config = StreamConfig(options, interim=interim, diarize=diarize)
        if overload != self.overload:  # only before any audio: the inbox is still empty
            self.overload = overload
            self.inbox = Inbox(self.settings.live_max_pending_s, overload)

    # -- receiving -------------------------------------------------------------------------

    async def receive(self) -> None:
        limit = self.settings.live_max_frame_bytes
        while True:
            message = await self.ws.receive()
            if message["type"] == "websocket.disconnect":
                raise WebSocketDisconnect(message.get("code", 1000))
            data, text = message.get("bytes"), message.get("text")
            size = len(data) if data is not None else len((text or "").encode())
            if size > limit:
                raise StreamError(
                    "message_too_big", f"a message of {size} bytes is over the {limit} limit", 1009
                )
            if data is not None:
                await self.audio(data)
            elif text is not None:
                await self.control(text)

    async def audio(self, data: bytes) -> None:
        if self.ended:
            await self.send(_error("ended", "audio after 'end' is ignored"))
            return
        if not self.started:
            self.started = True
            if self.format == "container":
                self.container = ContainerDecoder(self._decoded, self._container_end)
            else:
                self.pcm = PcmDecoder(self.sample_rate)
        if self.container is not None:
            await asyncio.to_thread(self.container.pipe.write, data)
        else:
            assert self.pcm is not None
            await queue_audio(self.state, self.inbox, self.pcm.feed(data))

    def _decoded(self, samples: Any) -> None:
        """From the container thread: with overload=wait, blocks while the inbox is full
        (back-pressure); gives up when the stream is gone, so the thread never outlives it."""
        future = asyncio.run_coroutine_threadsafe(
            queue_audio(self.state, self.inbox, samples), self._loop
        )
        while True:
            try:
                future.result(timeout=0.25)
                return
            except concurrent.futures.TimeoutError:
                if self.closed:
                    future.cancel()
                    raise PipeClosed("the stream is closed") from None

    def _container_end(self, error: BaseException | None) -> None:
        if self.closed:
            return
        item = Control("end") if error is None else Control("error", error)
        asyncio.run_coroutine_threadsafe(self.inbox.put_control(item), self._loop)

    def _container_flush(self) -> None:
        """From the container thread, once it has decoded every byte sent before a flush:
        the flush follows that audio in the inbox."""
        if not self.closed:
            asyncio.run_coroutine_threadsafe(self.inbox.put_control(Control("flush")), self._loop)

    async def control(self, text: str) -> None:
        try:
            message = json.loads(text)
        except ValueError:
            await self.send(_error("invalid_json", "text messages must be JSON objects"))
            return
        kind = message.get("type") if isinstance(message, dict) else None
        if kind == "config":
            if self.started:
                await self.send(_error("config_too_late", "config must come before any audio"))
                return
            self.configure(message)
            await self.send(self.ready())
        elif kind == "flush":
            if self.container is not None and not self.ended:
                # In the byte stream, so it comes after the audio of every byte sent before it.
                self.container.flush(self._container_flush)
            else:
                await self.inbox.put_control(Control("flush"))
        elif kind == "end":
            if self.ended:
                return
            self.ended = True
            if self.container is not None:
                self.container.pipe.close()  # the decoder thread sends "end" once drained
            else:
                if self.pcm is not None:
                    await queue_audio(self.state, self.inbox, self.pcm.finish())
                await self.inbox.put_control(Control("end"))
        else:
            await self.send(
                _error("unknown_type", f"unknown message type {kind!r}: use flush, end or config")
            )

    # -- processing ------------------------------------------------------------------------

    async def process(self) -> None:
        while True:
            item = await self.inbox.get()
            session = self.session or self._start()
            if isinstance(item, Audio):
                self.timeline.gap(session.time, item.gap)
                events = await session.feed(item.samples, item.arrived)
            elif item.name == "flush":
                events = await session.flush()
            elif item.name == "error":
                raise StreamError(
                    "undecodable_audio",
                    f"the container stream cannot be decoded: {_short(item.detail)}",
                    1003,
                )
            else:  # end
                for event in await session.end():
                    await self.emit(event)
                transcript = self.transcript()
                self.state.live.store(self.id, self.owner, transcript)
                await self.send(
                    {
                        "type": "done",
                        "session_id": self.id,
                        "transcript": json.loads(render(transcript, "json")),
                        "stats": stream_stats(session, self.inbox),
                    }
                )
                await self.ws.close(1000)
                return
            for event in events:
                await self.emit(event)
            await self.report_lag()

    def _start(self) -> LiveSession:
        self.session = new_session(self.state, self.config, self.cancel)
        return self.session

    async def emit(self, event: object) -> None:
        session = self.session
        assert session is not None
        if isinstance(event, Partial):
            observe_latency(self.state, session, event.latency_from, final=False)
            if self.config.interim:
                await self.send(
                    {
                        "type": "partial",
                        "text": event.text,
                        "start": _s(self.timeline.shift(event.start)),
                        "end": _s(self.timeline.shift(event.end, end=True)),
                    }
                )
        elif isinstance(event, Final):
            observe_latency(self.state, session, event.latency_from, final=True)
            segment = self.timeline.segment(event.segment).to_dict()
            await self.send(
                {
                    "type": "final",
                    "segment": {
                        "id": event.index,
                        "start": segment["start"],
                        "end": segment["end"],
                        "text": segment["text"],
                        "speaker": segment.get("speaker"),
                        "words": [
                            {
                                "word": w["word"],
                                "start": w["start"],
                                "end": w["end"],
                                "score": w["score"],
                                "speaker": w.get("speaker"),
                            }
                            for w in segment["words"]
                        ],
                    },
                }
            )

    async def report_lag(self) -> None:
        # At most once a second, except that new dropped audio is reported at once: the
        # client must learn of a gap in its transcript without waiting on a clock.
        now = time.monotonic()
        dropped = self.inbox.dropped_seconds
        if self.session is None or (
            now - self._last_lag < 1.0 and dropped <= self._reported_dropped
        ):
            return
        self._last_lag, self._reported_dropped = now, dropped
        lag = self.inbox.pending_seconds + self.session.behind
        self.state.metrics.live_lag.observe(lag)
        await self.send({"type": "lag", "seconds": _s(lag), "dropped_s": _s(dropped)})


def _s(value: float) -> float:
    return round(float(value), 3)


def _short(exc: BaseException) -> str:
    if isinstance(exc, ValidationError):
        parts = [f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()]
        return "; ".join(parts)[:300]
    return (str(exc) or type(exc).__name__)[:300]
