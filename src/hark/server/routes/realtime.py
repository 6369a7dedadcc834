"""OpenAI Realtime transcription sessions: `GET /v1/realtime?intent=transcription`.

What the `openai` SDK's `client.realtime.connect(extra_query={"intent": "transcription"})`
speaks, on the same engine as `/v1/listen` (docs/live.md):

- client: `session.update` (`session.type` "transcription"; input format `audio/pcm` at its
  `rate`, default 24000, or `audio/pcmu` / `audio/pcma`; `transcription.language` and
  `.prompt`; `turn_detection` `server_vad` with `threshold`, `prefix_padding_ms`,
  `silence_duration_ms`, or null for manual commits), `input_audio_buffer.append` /
  `.commit` / `.clear`; the beta names (`transcription_session.update`, its flat session
  fields `input_audio_format`, `input_audio_transcription`) are aliases.
- server: `session.created` / `session.updated`, `input_audio_buffer.speech_started` /
  `speech_stopped` / `committed` / `cleared`, `conversation.item.input_audio_transcription.delta`
  (append-only: words once committed) and `.completed` (the item's transcript), `error`.

One item is one utterance: it starts where speech starts and is committed at the pause (server
VAD), or at the client's `input_audio_buffer.commit` (manual).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import json
import logging
import threading
import time
import uuid
from typing import Any

from fastapi import APIRouter
from starlette.websockets import WebSocket, WebSocketDisconnect

from hark.live.pcm import RATES, G711Decoder, PcmDecoder
from hark.live.session import (
    Committed,
    Final,
    LiveSession,
    Partial,
    SpeechStarted,
    SpeechStopped,
    UtteranceEnd,
)
from hark.server.state import ServerState
from hark.server.streams import (
    Audio,
    Control,
    Inbox,
    StreamConfig,
    admit,
    live_options,
    new_session,
    observe_latency,
    release,
)

logger = logging.getLogger(__name__)

router = APIRouter(tags=["Live"])

BETA_ALIASES = {
    "transcription_session.update": "session.update",
}


class RealtimeFailure(Exception):
    def __init__(self, code: str, message: str, close_code: int) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.close_code = close_code


def error_event(
    code: str, message: str, *, param: str | None = None, event_id: str | None = None
) -> dict[str, Any]:
    kind = (
        "invalid_request_error" if code not in ("internal_error", "unavailable") else "server_error"
    )
    error: dict[str, Any] = {"type": kind, "code": code, "message": message}
    if param:
        error["param"] = param
    if event_id:
        error["event_id"] = event_id
    return {"type": "error", "event_id": _id("event"), "error": error}


def _id(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:20]}"


@router.websocket("/v1/realtime")
async def realtime(ws: WebSocket) -> None:
    state: ServerState = ws.app.state.hark
    admission = await admit(
        ws, state, lambda code, message: error_event(code, message), ("realtime",)
    )
    if admission is None:
        return
    stream = RealtimeStream(ws, state)
    try:
        await stream.run()
    finally:
        stream.close()
        release(state)


class RealtimeStream:
    def __init__(self, ws: WebSocket, state: ServerState) -> None:
        self.ws = ws
        self.state = state
        self.settings = state.settings
        self.id = _id("sess")
        self.inbox = Inbox(self.settings.live_max_pending_s)
        self.cancel = threading.Event()
        self.format: dict[str, Any] = {"type": "audio/pcm", "rate": 24000}
        self.transcription: dict[str, Any] = {"model": "whisper-1"}
        self.turn_detection: dict[str, Any] | None = {
            "type": "server_vad",
            "threshold": 0.5,
            "prefix_padding_ms": 300,
            "silence_duration_ms": round(self.settings.live_silence_s * 1000),
        }
        self.config = StreamConfig(live_options(state, {}))
        self.decoder: PcmDecoder | G711Decoder | None = None
        self.session: LiveSession | None = None
        self.item_id: str | None = None
        self.previous_item: str | None = None
        self.item_text = ""
        self.item_start = 0.0
        self.audio_since_commit = 0
        self._last_lag = time.monotonic()

    # -- lifecycle ---------------------------------------------------------------------------

    async def run(self) -> None:
        intent = self.ws.query_params.get("intent", "transcription")
        if intent != "transcription":
            await self.fail(
                RealtimeFailure(
                    "unsupported_intent",
                    f"only transcription sessions are served here (intent={intent!r}); "
                    "connect with ?intent=transcription",
                    1008,
                )
            )
            return
        await self.send(
            {"type": "session.created", "event_id": _id("event"), "session": self.describe()}
        )
        receiver = asyncio.create_task(self.receive())
        processor = asyncio.create_task(self.process())
        done, _ = await asyncio.wait({receiver, processor}, return_when=asyncio.FIRST_COMPLETED)
        for task in (receiver, processor):
            if task not in done:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
        for task in done:
            exc = task.exception()
            if isinstance(exc, RealtimeFailure):
                await self.fail(exc)
            elif exc is not None and not isinstance(exc, WebSocketDisconnect | OSError):
                logger.error("realtime stream %s failed", self.id, exc_info=exc)
                await self.fail(RealtimeFailure("internal_error", "the stream failed", 1011))

    def close(self) -> None:
        self.session = None
        self.cancel.set()  # a window of this stream still queued is dropped
        self.inbox = Inbox(1)

    async def fail(self, exc: RealtimeFailure) -> None:
        with contextlib.suppress(Exception):
            await self.send(error_event(exc.code, exc.message))
            await self.ws.close(exc.close_code, exc.message[:120])

    async def send(self, event: dict[str, Any]) -> None:
        await self.ws.send_text(json.dumps(event, ensure_ascii=False))

    def describe(self) -> dict[str, Any]:
        return {
            "type": "transcription",
            "id": self.id,
            "object": "realtime.transcription_session",
            "audio": {
                "input": {
                    "format": self.format,
                    "transcription": self.transcription,
                    "turn_detection": self.turn_detection,
                    "noise_reduction": None,
                }
            },
        }

    # -- client events ---------------------------------------------------------------------

    async def receive(self) -> None:
        limit = self.settings.live_max_frame_bytes
        while True:
            message = await self.ws.receive()
            if message["type"] == "websocket.disconnect":
                raise WebSocketDisconnect(message.get("code", 1000))
            text = message.get("text")
            if text is None:
                await self.send(
                    error_event(
                        "invalid_event",
                        "send JSON text events; audio goes in input_audio_buffer.append",
                    )
                )
                continue
            if len(text) > limit:
                raise RealtimeFailure(
                    "message_too_big",
                    f"an event of {len(text)} bytes is over the {limit} limit",
                    1009,
                )
            try:
                event = json.loads(text)
            except ValueError:
                await self.send(error_event("invalid_json", "events must be JSON objects"))
                continue
            if not isinstance(event, dict) or not isinstance(event.get("type"), str):
                await self.send(
                    error_event("invalid_event", "an event is a JSON object with a 'type'")
                )
                continue
            await self.handle(event)

    async def handle(self, event: dict[str, Any]) -> None:
        given = event["type"]
        kind = BETA_ALIASES.get(given, given)
        event_id = event.get("event_id") if isinstance(event.get("event_id"), str) else None
        if kind == "session.update":
            await self.update(event.get("session"), event_id, beta=given != kind)
        elif kind == "input_audio_buffer.append":
            await self.append(event.get("audio"), event_id)
        elif kind == "input_audio_buffer.commit":
            if self.audio_since_commit == 0:
                await self.send(
                    error_event(
                        "input_audio_buffer_commit_empty",
                        "the input audio buffer holds no audio since the last commit",
                        event_id=event_id,
                    )
                )
                return
            self.audio_since_commit = 0
            await self.inbox.put_control(Control("commit"))
        elif kind == "input_audio_buffer.clear":
            self.audio_since_commit = 0
            await self.inbox.put_control(Control("clear"))
        else:
            await self.send(
                error_event(
                    "unknown_event",
                    f"unknown or unsupported event type {given!r} in a transcription session; "
                    "use session.update, input_audio_buffer.append, .commit or .clear",
                    param="type",
                    event_id=event_id,
                )
            )

    async def update(self, session: Any, event_id: str | None, *, beta: bool) -> None:
        def bad(message: str, param: str) -> dict[str, Any]:
            return error_event("invalid_value", message, param=param, event_id=event_id)

        if not isinstance(session, dict):
            await self.send(bad("session must be an object", "session"))
            return
        if self.session is not None:
            await self.send(
                error_event(
                    "session_update_too_late",
                    "the session is fixed once audio has arrived; open a new one",
                    event_id=event_id,
                )
            )
            return
        if session.get("type", "transcription") != "transcription":
            await self.send(
                bad("this endpoint serves session.type 'transcription' only", "session.type")
            )
            return
        audio_in = ((session.get("audio") or {}).get("input") or {}) if not beta else {}
        fmt = audio_in.get("format", _beta_format(session.get("input_audio_format")))
        transcription = audio_in.get("transcription", session.get("input_audio_transcription"))
        missing = object()
        turn = audio_in.get("turn_detection", session.get("turn_detection", missing))
        if fmt is not None:
            if not isinstance(fmt, dict) or fmt.get("type", "audio/pcm") not in (
                "audio/pcm",
                "audio/pcmu",
                "audio/pcma",
            ):
                await self.send(
                    bad(
                        "format.type must be audio/pcm, audio/pcmu or audio/pcma",
                        "session.audio.input.format",
                    )
                )
                return
            rate = fmt.get("rate", 24000) if fmt.get("type", "audio/pcm") == "audio/pcm" else 8000
            if rate not in RATES:
                await self.send(
                    bad(
                        f"rate must be one of {', '.join(map(str, RATES))}",
                        "session.audio.input.format.rate",
                    )
                )
                return
            self.format = {
                "type": fmt.get("type", "audio/pcm"),
                **({"rate": rate} if rate != 8000 else {}),
            }
        values: dict[str, Any] = {}
        if transcription is not None:
            if not isinstance(transcription, dict):
                await self.send(
                    bad("transcription must be an object", "session.audio.input.transcription")
                )
                return
            self.transcription = {k: v for k, v in transcription.items() if v is not None}
            if transcription.get("language"):
                values["language"] = transcription["language"]
            if transcription.get("prompt"):
                values["initial_prompt"] = transcription["prompt"]
        if turn is not missing:
            if turn is not None and (
                not isinstance(turn, dict) or turn.get("type") not in ("server_vad", "semantic_vad")
            ):
                await self.send(
                    bad(
                        "turn_detection.type must be server_vad (or null)",
                        "session.audio.input.turn_detection",
                    )
                )
                return
            self.turn_detection = turn
        try:
            options = live_options(
                self.state,
                {
                    **self.config.options.model_dump(include={"language", "initial_prompt"}),
                    **values,
                },
            )
            td = self.turn_detection or {}
            threshold = td.get("threshold")
            silence = td.get("silence_duration_ms")
            padding = td.get("prefix_padding_ms")
            self.config = StreamConfig(
                options,
                onset=float(threshold) if threshold is not None else None,
                silence_s=float(silence) / 1000 if silence else None,
                preroll_s=float(padding) / 1000 if padding is not None else None,
            )
            new_session(self.state, self.config)  # validates the combination now
        except (ValueError, TypeError) as exc:
            await self.send(bad(str(exc).splitlines()[0][:300], "session"))
            return
        name = "transcription_session.updated" if beta else "session.updated"
        await self.send({"type": name, "event_id": _id("event"), "session": self.describe()})

    async def append(self, audio: Any, event_id: str | None) -> None:
        if not isinstance(audio, str):
            await self.send(
                error_event(
                    "invalid_value",
                    "audio must be a base64 string",
                    param="audio",
                    event_id=event_id,
                )
            )
            return
        try:
            data = base64.b64decode(audio, validate=True)
        except (binascii.Error, ValueError):
            await self.send(
                error_event(
                    "invalid_audio", "audio is not valid base64", param="audio", event_id=event_id
                )
            )
            return
        if self.decoder is None:
            kind = self.format.get("type", "audio/pcm")
            self.decoder = (
                PcmDecoder(int(self.format.get("rate", 24000)))
                if kind == "audio/pcm"
                else G711Decoder(kind.removeprefix("audio/"))
            )
        samples = self.decoder.feed(data)
        self.audio_since_commit += samples.size
        await self.inbox.put_audio(samples)

    # -- the session's events ---------------------------------------------------------------

    async def process(self) -> None:
        while True:
            item = await self.inbox.get()
            if self.session is None:
                self.session = new_session(self.state, self.config, self.cancel)
            session = self.session
            if isinstance(item, Audio):
                events = await session.feed(item.samples, item.arrived)
            elif item.name == "commit":
                events = [*await session.flush(), Control("item_done")]
            else:  # clear
                events = session.clear()
                self.item_text = ""
                await self.send({"type": "input_audio_buffer.cleared", "event_id": _id("event")})
            for event in events:
                await self.emit(session, event)
            await self.report_lag(session)

    def _item(self, start: float) -> str:
        if self.item_id is None:
            self.item_id, self.item_text, self.item_start = _id("item"), "", start
        return self.item_id

    async def emit(self, session: LiveSession, event: object) -> None:
        vad = self.turn_detection is not None
        if isinstance(event, SpeechStarted) and vad:
            item = self._item(event.time)
            await self.send(
                {
                    "type": "input_audio_buffer.speech_started",
                    "event_id": _id("event"),
                    "audio_start_ms": round(event.time * 1000),
                    "item_id": item,
                }
            )
        elif isinstance(event, SpeechStopped) and vad and self.item_id is not None:
            await self.send(
                {
                    "type": "input_audio_buffer.speech_stopped",
                    "event_id": _id("event"),
                    "audio_end_ms": round(event.time * 1000),
                    "item_id": self.item_id,
                }
            )
        elif isinstance(event, Committed):
            item = self._item(event.words[0].start)
            delta = "".join(w.word for w in event.words)
            delta = delta.lstrip() if not self.item_text else delta
            self.item_text += delta
            await self.send(
                {
                    "type": "conversation.item.input_audio_transcription.delta",
                    "event_id": _id("event"),
                    "item_id": item,
                    "content_index": 0,
                    "delta": delta,
                }
            )
        elif isinstance(event, Partial | Final):
            observe_latency(self.state, session, event.latency_from, final=isinstance(event, Final))
        elif (isinstance(event, UtteranceEnd) and vad and event.reason == "pause") or (
            isinstance(event, Control) and event.name == "item_done"
        ):
            await self.complete(session)

    async def complete(self, session: LiveSession) -> None:
        """Commit the current item: `committed`, then `completed` with its transcript."""
        item = self._item(session.time)
        await self.send(
            {
                "type": "input_audio_buffer.committed",
                "event_id": _id("event"),
                "item_id": item,
                "previous_item_id": self.previous_item,
            }
        )
        await self.send(
            {
                "type": "conversation.item.input_audio_transcription.completed",
                "event_id": _id("event"),
                "item_id": item,
                "content_index": 0,
                "transcript": self.item_text.strip(),
                "usage": {
                    "type": "duration",
                    "seconds": round(max(0.0, session.time - self.item_start), 3),
                },
            }
        )
        self.previous_item, self.item_id, self.item_text = item, None, ""

    async def report_lag(self, session: LiveSession) -> None:
        now = time.monotonic()
        if now - self._last_lag >= 1.0:
            self._last_lag = now
            self.state.metrics.live_lag.observe(self.inbox.pending_seconds + session.behind)


def _beta_format(name: Any) -> dict[str, Any] | None:
    """The beta's `input_audio_format` string as a GA format object."""
    if name is None:
        return None
    table = {
        "pcm16": {"type": "audio/pcm", "rate": 24000},
        "g711_ulaw": {"type": "audio/pcmu"},
        "g711_alaw": {"type": "audio/pcma"},
    }
    return table.get(name, {"type": str(name)})
