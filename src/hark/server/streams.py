"""What both live WebSocket routes share: authentication, admission (the stream limit), the
bounded inbox between the socket and the session, and building a session for a stream.

Authentication accepts what a browser can send: the `Authorization: Bearer` header, the query
parameter `api_key`, or a WebSocket subprotocol `hark.bearer.KEY` (OpenAI's browser form
`openai-insecure-api-key.KEY` too). The socket is accepted first and refused with a close code
and reason (1008 auth, 1013 limit or model loading), since a browser learns nothing from a
handshake that fails.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from starlette.websockets import WebSocket

from hark.live.endpoint import EndpointOptions
from hark.live.session import LiveSession, SessionOptions
from hark.live.speakers import OnlineSpeakers, default_embed
from hark.options import TranscribeOptions
from hark.server.auth import key_name
from hark.server.state import ServerState
from hark.vad import SAMPLE_RATE, speech_probabilities

BEARER_PROTOCOLS = ("hark.bearer.", "openai-insecure-api-key.")
ErrorEvent = Callable[[str, str], dict[str, Any]]


def presented_key(ws: WebSocket) -> str | None:
    header = ws.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    if ws.query_params.get("api_key"):
        return ws.query_params["api_key"]
    for protocol in offered_protocols(ws):
        for prefix in BEARER_PROTOCOLS:
            if protocol.startswith(prefix) and len(protocol) > len(prefix):
                return protocol[len(prefix) :]
    return None


def offered_protocols(ws: WebSocket) -> list[str]:
    header = ws.headers.get("sec-websocket-protocol", "")
    return [p.strip() for p in header.split(",") if p.strip()]


def answer_protocol(ws: WebSocket, preferred: tuple[str, ...]) -> str | None:
    """The subprotocol to answer with: one of `preferred` that the client offered, else the
    bearer protocol it offered (a client must get one of its own offers back)."""
    offered = offered_protocols(ws)
    for name in preferred:
        if name in offered:
            return name
    return next((p for p in offered if p.startswith(BEARER_PROTOCOLS)), None)


@dataclass(frozen=True)
class Admission:
    caller: str | None  # the key's name; None on an open server


async def admit(
    ws: WebSocket, state: ServerState, error: ErrorEvent, preferred: tuple[str, ...]
) -> Admission | None:
    """Accept the socket, then check the key, the model and the stream limit; on refusal send
    an error event, close, and return None. The caller releases the slot when it is done."""
    await ws.accept(subprotocol=answer_protocol(ws, preferred))
    settings = state.settings
    caller = None
    if settings.api_keys:
        presented = presented_key(ws)
        caller = key_name(settings, presented) if presented else None
        if caller is None:
            what = "an API key is required" if presented is None else "invalid API key"
            await refuse(ws, error("unauthorized", what + hint_key()), 1008, what)
            return None
        state.metrics.key_requests.labels(key=caller).inc()
    if state.engine is None or state.draining:
        message = "the model is not loaded yet" if not state.draining else "the server is stopping"
        await refuse(ws, error("unavailable", message + "; retry shortly"), 1013, message)
        return None
    if not state.live.acquire():
        state.metrics.live_refused.inc()
        limit = state.live.max_streams
        message = f"too many live streams ({limit} open); retry later"
        await refuse(ws, error("too_many_streams", message), 1013, message)
        return None
    state.metrics.live_streams.set(state.live.open_streams)
    return Admission(caller)


def release(state: ServerState) -> None:
    state.live.release()
    state.metrics.live_streams.set(state.live.open_streams)


def hint_key() -> str:
    return (
        ": send 'Authorization: Bearer <key>', the query parameter api_key, "
        "or the subprotocol hark.bearer.<key>"
    )


async def refuse(ws: WebSocket, event: dict[str, Any], code: int, reason: str) -> None:
    try:
        await ws.send_json(event)
        await ws.close(code, reason[:120])  # a close reason is at most 123 bytes
    except Exception:  # the client may be gone already
        pass


# -- the inbox between the socket and the session ----------------------------------------------


class Control:
    """A control item in the inbox, in order with the audio around it."""

    def __init__(self, name: str, detail: Any = None) -> None:
        self.name = name
        self.detail = detail

    def __repr__(self) -> str:
        return f"Control({self.name!r})"


@dataclass
class Audio:
    samples: np.ndarray
    arrived: float


class Inbox:
    """Audio and control items waiting for the session, bounded by seconds of audio: `put`
    waits while `max_seconds` are queued, so a client sending faster than the session keeps
    up stops being read (TCP back-pressure) instead of growing server memory."""

    def __init__(self, max_seconds: float) -> None:
        self.max_samples = round(max_seconds * SAMPLE_RATE)
        self._items: deque[Audio | Control] = deque()
        self._samples = 0
        self.peak_samples = 0  # the most audio ever queued
        self._cond = asyncio.Condition()

    @property
    def pending_seconds(self) -> float:
        return self._samples / SAMPLE_RATE

    @property
    def pending_samples(self) -> int:
        return self._samples

    async def put_audio(self, samples: np.ndarray) -> None:
        if samples.size == 0:
            return
        async with self._cond:
            await self._cond.wait_for(lambda: self._samples < self.max_samples)
            self._items.append(Audio(samples, time.monotonic()))
            self._samples += samples.size
            self.peak_samples = max(self.peak_samples, self._samples)
            self._cond.notify_all()

    async def put_control(self, item: Control) -> None:
        async with self._cond:
            self._items.append(item)
            self._cond.notify_all()

    async def get(self) -> Audio | Control:
        """The next control item, or all the audio queued before the next control item."""
        async with self._cond:
            await self._cond.wait_for(lambda: bool(self._items))
            first = self._items.popleft()
            if isinstance(first, Audio):
                parts = [first.samples]
                while self._items and isinstance(self._items[0], Audio):
                    parts.append(self._items.popleft().samples)  # type: ignore[union-attr]
                samples = np.concatenate(parts) if len(parts) > 1 else parts[0]
                self._samples -= samples.size
                first = Audio(samples, first.arrived)
            self._cond.notify_all()
            return first


# -- sessions -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class StreamConfig:
    """A stream's choices, from the query string, a config message or session.update."""

    options: TranscribeOptions
    interim: bool = True
    diarize: bool = False
    silence_s: float | None = None
    onset: float | None = None
    preroll_s: float | None = None


def live_options(state: ServerState, values: dict[str, Any]) -> TranscribeOptions:
    """TranscribeOptions of a stream: the live beam size unless the stream names one.
    Raises pydantic's ValidationError (a ValueError) on bad values."""
    values = {"beam_size": state.settings.live_beam_size, **values}
    return TranscribeOptions(**values)


def new_session(
    state: ServerState, config: StreamConfig, cancel: threading.Event | None = None
) -> LiveSession:
    from hark.live.decode import server_decoder

    s = state.settings
    endpoint = EndpointOptions(
        onset=config.onset if config.onset is not None else config.options.vad_onset,
        offset=min(config.options.vad_offset, config.onset or 1.0),
        silence_s=config.silence_s or s.live_silence_s,
        preroll_s=config.preroll_s if config.preroll_s is not None else 0.3,
    )
    options = SessionOptions(
        step_s=s.live_step_s,
        max_buffer_s=s.live_max_buffer_s,
        keep_at_cap_s=min(5.0, s.live_max_buffer_s / 2),
        interim=config.interim,
        endpoint=endpoint,
    )
    vad = state.loaded().pipeline.vad

    def probabilities(audio: np.ndarray) -> np.ndarray:
        return speech_probabilities(audio, vad)

    speakers = None
    if config.diarize:
        online = OnlineSpeakers(default_embed)

        async def speakers(audio: np.ndarray) -> str | None:
            return await asyncio.to_thread(online.label, audio)

    return LiveSession(
        server_decoder(state, config.options, cancel),
        probabilities,
        options,
        language=config.options.language,
        speakers=speakers,
    )


def stream_stats(session: LiveSession, inbox: Inbox) -> dict[str, float]:
    """What a stream cost, sent with `done`: the memory bounds can be checked from outside."""
    return {
        "audio_s": round(session.time, 3),
        "decodes": session.decodes,
        "peak_buffer_s": round(session.buffer.peak / SAMPLE_RATE, 3),
        "peak_pending_s": round(inbox.peak_samples / SAMPLE_RATE, 3),
    }


def observe_latency(
    state: ServerState, session: LiveSession, latency_from: float | None, final: bool
) -> None:
    if latency_from is None:
        return
    arrived = session.arrived_at(latency_from)
    if arrived is None:
        return
    histogram = state.metrics.live_final_latency if final else state.metrics.live_partial_latency
    histogram.observe(max(0.0, time.monotonic() - arrived))
