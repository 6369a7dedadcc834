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

import base64
import binascii
import json
import threading
import time
import uuid
from typing import Any

from fastapi import APIRouter
from starlette.websockets import WebSocket, WebSocketDisconnect

from hark.live.events import (
    Committed,
    Final,
    Partial,
    SpeechStarted,
    SpeechStopped,
    UtteranceEnd,
)
from hark.live.pcm import RATES, G711Decoder, PcmDecoder
from hark.live.session import LiveSession
from hark.server.state import ServerState
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
    supervise,
)

router = APIRouter(tags=["Live"])

BETA_ALIASES = {
    "transcription_session.update": "session.update",
}


RealtimeFailure = StreamFailure  # an error event, then a close with `close_code`


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
        self.overload = self.settings.live_overload
        self.inbox = Inbox(self.settings.live_max_pending_s, self.overload)
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
        # The processor's side: the session, and what it was built with. A session.update
        # after audio has arrived reaches it through the inbox and applies from the next item
        # on (a new LiveSession whose times continue from `offset`).
        self.session: LiveSession | None = None
        self.offset = 0.0  # session seconds before the current LiveSession
        self.timeline = Timeline()  # -> the sender's clock, past audio dropped (overload=drop)
        self.vad = self.turn_detection is not None  # server VAD in the current session
        self.next_config: tuple[StreamConfig, bool] | None = None
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
        try:
            self.overload = parse_overload(self.ws.query_params.get("overload", self.overload))
        except ValueError as exc:
            await self.fail(RealtimeFailure("invalid_value", str(exc), 1008))
            return
        self.inbox = Inbox(self.settings.live_max_pending_s, self.overload)
        await supervise(self.id, self.created_then_receive(), self.process(), self.fail)

    async def created_then_receive(self) -> None:
        await self.send(
            {"type": "session.created", "event_id": _id("event"), "session": self.describe()}
        )
        await self.receive()

    def close(self) -> None:
        self.session = None
        self.cancel.set()  # a window of this stream still queued is dropped
        self.inbox.clear()

    async def fail(self, exc: RealtimeFailure) -> None:
        timeout = self.settings.live_send_timeout_s
        event = error_event(exc.code, exc.message)
        await close_with(self.ws, event, exc.close_code, exc.message, timeout)

    async def send(self, event: dict[str, Any]) -> None:
        await send_event(self.ws, event, self.settings.live_send_timeout_s)

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
        """Validate the whole update, then apply it. Before any audio it shapes the session;
        after, it applies from the next item on (the item being spoken keeps its settings),
        except the input format, which cannot change once audio has been decoded with it."""

        def bad(message: str, param: str) -> dict[str, Any]:
            return error_event("invalid_value", message, param=param, event_id=event_id)

        if not isinstance(session, dict):
            await self.send(bad("session must be an object", "session"))
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
        new_format = self.format
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
            new_format = {
                "type": fmt.get("type", "audio/pcm"),
                **({"rate": rate} if rate != 8000 else {}),
            }
            if self.decoder is not None and new_format != self.format:
                await self.send(
                    error_event(
                        "session_update_too_late",
                        f"the input audio format cannot change once audio has arrived (it is "
                        f"{self.format}); open a new session for another format",
                        param="session.audio.input.format",
                        event_id=event_id,
                    )
                )
                return
        values: dict[str, Any] = {}
        new_transcription = self.transcription
        if transcription is not None:
            if not isinstance(transcription, dict):
                await self.send(
                    bad("transcription must be an object", "session.audio.input.transcription")
                )
                return
            new_transcription = {k: v for k, v in transcription.items() if v is not None}
            if transcription.get("language"):
                values["language"] = transcription["language"]
            if transcription.get("prompt"):
                values["initial_prompt"] = transcription["prompt"]
        new_turn = self.turn_detection
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
            new_turn = turn
        try:
            options = live_options(
                self.state,
                {
                    **self.config.options.model_dump(include={"language", "initial_prompt"}),
                    **values,
                },
            )
            td = new_turn or {}
            threshold = td.get("threshold")
            silence = td.get("silence_duration_ms")
            padding = td.get("prefix_padding_ms")
            config = StreamConfig(
                options,
                onset=float(threshold) if threshold is not None else None,
                silence_s=float(silence) / 1000 if silence else None,
                preroll_s=float(padding) / 1000 if padding is not None else None,
            )
            new_session(self.state, config)  # validates the combination now
        except (ValueError, TypeError) as exc:
            await self.send(bad(str(exc).splitlines()[0][:300], "session"))
            return
        self.format, self.transcription, self.turn_detection = (
            new_format,
            new_transcription,
            new_turn,
        )
        self.config = config
        if self.decoder is not None:  # audio has arrived: from the next item on
            await self.inbox.put_control(Control("config", (config, new_turn is not None)))
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
        await queue_audio(self.state, self.inbox, samples)

    # -- the session's events ---------------------------------------------------------------

    async def process(self) -> None:
        while True:
            item = await self.inbox.get()
            if self.session is None:
                self.session = new_session(self.state, self.config, self.cancel)
                self.vad = self.turn_detection is not None
            session = self.session
            if isinstance(item, Audio):
                self.timeline.gap(self.offset + session.time, item.gap)
                events = await session.feed(item.samples, item.arrived)
            elif item.name == "commit":
                events = [*await session.flush(), Control("item_done")]
            elif item.name == "config":
                self.next_config = item.detail
                events = []
            else:  # clear
                events = session.clear()
                self.item_text = ""
                await self.send({"type": "input_audio_buffer.cleared", "event_id": _id("event")})
            for event in events:
                await self.emit(session, event)
            if self.next_config is not None and self.item_id is None:
                self._next_session()
            await self.report_lag(session)

    def _next_session(self) -> None:
        """A session.update made after audio arrived, between two items: a new LiveSession
        with the new settings, its times continuing where the last one stopped."""
        assert self.session is not None and self.next_config is not None
        config, self.vad = self.next_config
        self.offset += self.session.time
        self.session = new_session(self.state, config, self.cancel)
        self.next_config = None

    async def _item(self, start: float) -> str:
        """The current item; a new one is announced (conversation.item.added) before any
        event names it."""
        if self.item_id is None:
            self.item_id, self.item_text, self.item_start = _id("item"), "", start
            await self.send(
                {
                    "type": "conversation.item.added",
                    "event_id": _id("event"),
                    "previous_item_id": self.previous_item,
                    "item": self._item_object(self.item_id, "in_progress", None),
                }
            )
        return self.item_id

    @staticmethod
    def _item_object(item: str, status: str, transcript: str | None) -> dict[str, Any]:
        return {
            "id": item,
            "object": "realtime.item",
            "type": "message",
            "role": "user",
            "status": status,
            "content": [{"type": "input_audio", "transcript": transcript}],
        }

    async def emit(self, session: LiveSession, event: object) -> None:
        vad, offset = self.vad, self.offset
        if isinstance(event, SpeechStarted) and vad:
            item = await self._item(offset + event.time)
            await self.send(
                {
                    "type": "input_audio_buffer.speech_started",
                    "event_id": _id("event"),
                    "audio_start_ms": round(self.timeline.shift(offset + event.time) * 1000),
                    "item_id": item,
                }
            )
        elif isinstance(event, SpeechStopped) and vad and self.item_id is not None:
            await self.send(
                {
                    "type": "input_audio_buffer.speech_stopped",
                    "event_id": _id("event"),
                    "audio_end_ms": round(
                        self.timeline.shift(offset + event.time, end=True) * 1000
                    ),
                    "item_id": self.item_id,
                }
            )
        elif isinstance(event, Committed):
            item = await self._item(offset + event.words[0].start)
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
        """Commit the current item: `committed`, `completed` with its transcript, then
        `conversation.item.done`."""
        now = self.offset + session.time
        item = await self._item(now)
        transcript = self.item_text.strip()
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
                "transcript": transcript,
                "usage": {"type": "duration", "seconds": round(max(0.0, now - self.item_start), 3)},
            }
        )
        await self.send(
            {
                "type": "conversation.item.done",
                "event_id": _id("event"),
                "previous_item_id": self.previous_item,
                "item": self._item_object(item, "completed", transcript),
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
