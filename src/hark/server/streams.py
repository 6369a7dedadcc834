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
import bisect
import contextlib
import json
import logging
import threading
import time
from collections import deque
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
from starlette.websockets import WebSocket, WebSocketDisconnect

from hark.live.endpoint import EndpointOptions
from hark.live.events import DecodedWindow, WindowDecoder
from hark.live.policy import PolicyOptions
from hark.live.session import LiveSession, SessionOptions
from hark.live.speakers import OnlineSpeakers, default_embed
from hark.live.windows import (
    FULL_INPUT_ENCODE_BUDGET_S,
    FinalInput,
    encode_seconds,
    engine_decoder,
    second_pass,
)
from hark.options import TranscribeOptions
from hark.schema import Segment, Transcript
from hark.server.auth import key_name
from hark.server.state import ServerState
from hark.settings import Settings
from hark.vad import SAMPLE_RATE, speech_probabilities

if TYPE_CHECKING:
    from hark.asr import WhisperASR

logger = logging.getLogger(__name__)

BEARER_PROTOCOLS = ("hark.bearer.", "openai-insecure-api-key.")
ErrorEvent = Callable[[str, str], dict[str, Any]]


class StreamFailure(Exception):
    """Ends a stream: an error event with `code`, then a close with `close_code`."""

    def __init__(self, code: str, message: str, close_code: int) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.close_code = close_code


class SlowClient(OSError):
    """The client stopped reading our events (a send waited `live_send_timeout_s`): the
    stream ends as after a disconnect, so a stalled reader cannot hold a slot."""


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


# -- running a stream ---------------------------------------------------------------------------


async def supervise(
    name: str,
    receive: Coroutine[Any, Any, None],
    process: Coroutine[Any, Any, None],
    fail: Callable[[StreamFailure], Awaitable[None]],
) -> None:
    """Run a stream's receiver (the socket -> the inbox) and processor (the inbox -> the
    session -> events) until either ends, then cancel the other at once: a disconnect seen by
    the receiver stops a decode in progress, and the route's `finally` frees the slot. A
    StreamFailure from either becomes an error event and a close; a disconnect (or a client
    that stopped reading) ends quietly; anything else is logged and closes 1011."""
    receiver = asyncio.create_task(receive)
    processor = asyncio.create_task(process)
    tasks = (receiver, processor)
    try:
        done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
    for task in done:
        if task.cancelled():
            continue
        exc = task.exception()
        if isinstance(exc, StreamFailure):
            await fail(exc)
        elif exc is not None and not isinstance(exc, WebSocketDisconnect | OSError):
            logger.error("live stream %s failed", name, exc_info=exc)
            await fail(StreamFailure("internal_error", "the stream failed", 1011))


async def send_event(ws: WebSocket, event: dict[str, Any], timeout: float) -> None:
    """Send one JSON event; a client that does not take it within `timeout` (its receive
    window stays full) is treated as gone (SlowClient)."""
    try:
        await asyncio.wait_for(ws.send_text(json.dumps(event, ensure_ascii=False)), timeout)
    except TimeoutError:
        raise SlowClient(f"the client took no event for {timeout:g} s") from None


async def close_with(
    ws: WebSocket, event: dict[str, Any], code: int, reason: str, timeout: float
) -> None:
    """An error event then a close; quietly nothing if the client is gone or not reading."""
    with contextlib.suppress(Exception):
        await send_event(ws, event, timeout)
        await asyncio.wait_for(ws.close(code, reason[:120]), timeout)


def parse_overload(value: Any) -> str:
    text = str(value).lower()
    if text not in OVERLOAD:
        raise ValueError(f"overload must be drop or wait, not {value!r}")
    return text


async def queue_audio(state: ServerState, inbox: Inbox, samples: np.ndarray) -> None:
    """Into the inbox; audio dropped at its bound is counted (hark_live_dropped_seconds)."""
    dropped = await inbox.put_audio(samples)
    if dropped:
        state.metrics.live_dropped.inc(dropped / SAMPLE_RATE)


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
    gap: int = 0  # samples dropped (overload=drop) right before these


OVERLOAD = ("drop", "wait")
# Audio messages shorter than this join the queued message before them, so a client sending
# tiny messages cannot turn a few bytes of audio into a queue entry each.
MERGE_SAMPLES = SAMPLE_RATE // 10
# Control messages queued and not yet processed (flush, commit, ... in between audio), at most.
MAX_CONTROLS = 1000


class Inbox:
    """Audio and control items waiting for the session, bounded by seconds of audio.

    What happens at the bound (`max_seconds` queued) is the stream's `overload` choice:
    "drop" (the default) takes the new audio and drops the oldest audio still queued, so the
    socket is always read (keepalive pongs, close frames and disconnects are seen at once) and
    a real-time source stays current; "wait" makes `put_audio` wait for room, so the route
    stops reading the socket and TCP slows the client down (lossless, for files sent faster
    than real time). Either way the memory held is bounded."""

    def __init__(self, max_seconds: float, overload: str = "drop") -> None:
        if overload not in OVERLOAD:
            raise ValueError(f"overload must be drop or wait, not {overload!r}")
        self.max_samples = max(1, round(max_seconds * SAMPLE_RATE))
        self.overload = overload
        self._items: deque[Audio | Control] = deque()
        self._samples = 0
        self._controls = 0
        self.peak_samples = 0  # the most audio ever queued
        self.dropped_samples = 0  # audio dropped at the bound ("drop")
        self._cond = asyncio.Condition()

    @property
    def pending_seconds(self) -> float:
        return self._samples / SAMPLE_RATE

    @property
    def pending_samples(self) -> int:
        return self._samples

    @property
    def dropped_seconds(self) -> float:
        return self.dropped_samples / SAMPLE_RATE

    async def put_audio(self, samples: np.ndarray) -> int:
        """Queue `samples`; returns how many samples were dropped to make room."""
        if samples.size == 0:
            return 0
        async with self._cond:
            if self.overload == "wait":
                await self._cond.wait_for(lambda: self._samples < self.max_samples)
            last = self._items[-1] if self._items else None
            if isinstance(last, Audio) and last.samples.size < MERGE_SAMPLES:
                joined = np.concatenate([last.samples, samples])
                self._items[-1] = Audio(joined, last.arrived, last.gap)
            else:
                self._items.append(Audio(samples, time.monotonic()))
            self._samples += samples.size
            dropped = self._drop_oldest(self._samples - self.max_samples)
            self.peak_samples = max(self.peak_samples, self._samples)
            self._cond.notify_all()
            return dropped

    def _drop_oldest(self, excess: int) -> int:
        """Drop `excess` samples of the oldest queued audio (controls stay in order)."""
        if self.overload != "drop" or excess <= 0:
            return 0
        dropped = 0
        gap = 0  # dropped before the next audio kept, which carries it
        kept: deque[Audio | Control] = deque()
        for item in self._items:
            if isinstance(item, Audio):
                cut = min(item.samples.size, excess - dropped)
                dropped += cut
                gap += item.gap + cut
                if cut == item.samples.size:
                    continue
                item = Audio(item.samples[cut:], item.arrived, gap)
                gap = 0
            kept.append(item)
        self._items = kept
        self._samples -= dropped
        self.dropped_samples += dropped
        return dropped

    @property
    def size(self) -> int:
        """Entries queued (audio runs and controls)."""
        return len(self._items)

    async def put_control(self, item: Control) -> None:
        """Queue a control; one right after the same control replaces it (two flushes with no
        audio between are one). Raises StreamFailure past MAX_CONTROLS queued."""
        async with self._cond:
            last = self._items[-1] if self._items else None
            if isinstance(last, Control) and last.name == item.name:
                self._items[-1] = item
                return
            if self._controls >= MAX_CONTROLS:
                raise StreamFailure(
                    "too_many_messages",
                    f"over {MAX_CONTROLS} control messages wait to be processed; "
                    "send them no faster than the stream is processed",
                    1008,
                )
            self._items.append(item)
            self._controls += 1
            self._cond.notify_all()

    async def get(self) -> Audio | Control:
        """The next control item, or all the audio queued before the next control item."""
        async with self._cond:
            await self._cond.wait_for(lambda: bool(self._items))
            first = self._items.popleft()
            if isinstance(first, Control):
                self._controls -= 1
            if isinstance(first, Audio):
                parts = [first.samples]
                # Up to the next control, or the next gap (the session learns where it is).
                while self._items and isinstance(self._items[0], Audio) and not self._items[0].gap:
                    parts.append(self._items.popleft().samples)  # type: ignore[union-attr]
                samples = np.concatenate(parts) if len(parts) > 1 else parts[0]
                self._samples -= samples.size
                first = Audio(samples, first.arrived, first.gap)
            self._cond.notify_all()
            return first

    def clear(self) -> None:
        """Forget everything queued (the stream is closing)."""
        self._items.clear()
        self._samples = 0
        self._controls = 0


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
    """TranscribeOptions of a stream: the live beam size and temperature 0 only (no sampling
    fallback) unless the stream names them. Live windows are cut mid-sentence, so some fail
    the log-probability threshold; a sampled retry of such a window changed the long form's
    streaming WER by up to 4 points from run to run (14.7 % without the fallback, 14.7-18.3 %
    with it: docs/benchmarks.md), and loops are cut by the hypothesis guard anyway.
    Raises pydantic's ValidationError (a ValueError) on bad values."""
    values = {"beam_size": state.settings.live_beam_size, "temperature": [0.0], **values}
    return TranscribeOptions(**values)


def choose_final_input(settings: Settings, asr: WhisperASR) -> FinalInput:
    """`HARK_LIVE_FINAL_INPUT`: whether the streams' finals are decoded as the files' chunks
    (a 30 s encoder input, no prompt); decided once, when the model is loaded. On the long
    form (docs/benchmarks.md, session 11) the 10 s padding read "neither did I" as "needs a
    design" and "stuff it" as "stuffed", the prompt "ask not" as "asked not"; both together
    cost about 0.7 s more per final on 2 CPU cores (the encoder's 30 s input), nothing to
    speak of on a GPU. `auto` on CPU times one 30 s encoding (blocking: a second or two)."""
    choice = settings.live_final_input
    if choice != "auto":
        return FinalInput(choice == "full")
    if asr.device != "cpu":
        return FinalInput(True)
    if settings.live_max_streams == 0:
        return FinalInput(False)  # no live streams: nothing to time
    took = encode_seconds(asr)
    full = took <= FULL_INPUT_ENCODE_BUDGET_S
    logger.info(
        "live finals: %s inputs (HARK_LIVE_FINAL_INPUT=auto: a 30 s encoding took %.2f s on "
        "cpu, full inputs up to %.2f s)",
        "full 30 s" if full else "short",
        took,
        FULL_INPUT_ENCODE_BUDGET_S,
    )
    return FinalInput(full, took)


def new_session(
    state: ServerState, config: StreamConfig, cancel: threading.Event | None = None
) -> LiveSession:
    s = state.settings
    endpoint = EndpointOptions(
        onset=config.onset if config.onset is not None else config.options.vad_onset,
        offset=min(config.options.vad_offset, config.onset or 1.0),
        silence_s=config.silence_s or s.live_silence_s,
        preroll_s=config.preroll_s if config.preroll_s is not None else 0.3,
    )
    # A stream opens only once the engine is loaded; `cancel` (the stream is gone) takes a
    # window still queued out of the scheduler.
    engine = state.loaded()
    full = state.live_final_input.full
    options = SessionOptions(
        prompt_finals=not full,
        step_s=s.live_step_s,
        max_buffer_s=s.live_max_buffer_s,
        keep_at_cap_s=min(5.0, s.live_max_buffer_s / 2),
        interim=config.interim,
        endpoint=endpoint,
        policy=PolicyOptions(commit=s.live_commit),
    )
    vad = engine.pipeline.vad

    def probabilities(audio: np.ndarray) -> np.ndarray:
        return speech_probabilities(audio, vad)

    speakers = None
    if config.diarize:
        online = OnlineSpeakers(default_embed)

        async def speakers(audio: np.ndarray) -> str | None:
            return await asyncio.to_thread(online.label, audio)

    final = None
    second = second_pass(config.options, s.live_final_beam_size, full)
    if second is not None:
        wide, pad = second
        final = timed(engine_decoder(engine, wide, cancel, pad, priority="final"), state, "final")
    return LiveSession(
        timed(engine_decoder(engine, config.options, cancel), state, "step"),
        probabilities,
        options,
        language=config.options.language,
        speakers=speakers,
        final_decoder=final,
    )


def timed(decoder: WindowDecoder, state: ServerState, kind: str) -> WindowDecoder:
    """`decoder`, each decode's time (its wait for the model included) observed in
    hark_live_decode_seconds{kind}: with the final latency histogram it tells a slow model
    from a busy one."""
    histogram = state.metrics.live_decode.labels(kind=kind)

    async def decode(
        samples: np.ndarray, prompt: str | None, language: str | None
    ) -> DecodedWindow:
        started = time.monotonic()
        try:
            return await decoder(samples, prompt, language)
        finally:
            histogram.observe(time.monotonic() - started)

    return decode


class Timeline:
    """Session time -> the sender's time. Audio dropped at the inbox's bound never reaches the
    session, whose clock counts the audio it processed; the routes shift the times they send
    (and the transcript) by what was dropped before each, so subtitles stay on the sender's
    clock. One entry per gap; a lookup is a bisection."""

    def __init__(self) -> None:
        self._at: list[float] = []  # session times of the gaps, increasing
        self._total: list[float] = []  # seconds dropped up to and including each gap

    @property
    def dropped(self) -> float:
        return self._total[-1] if self._total else 0.0

    def gap(self, at: float, samples: int) -> None:
        if samples > 0:
            self._at.append(at)
            self._total.append(self.dropped + samples / SAMPLE_RATE)

    def shift(self, t: float, *, end: bool = False) -> float:
        """`t` on the sender's clock; an `end` exactly at a gap stays before it."""
        k = (bisect.bisect_left if end else bisect.bisect_right)(self._at, t)
        return t + (self._total[k - 1] if k else 0.0)

    def segment(self, segment: Segment) -> Segment:
        if not self._at:
            return segment
        words = [
            w.model_copy(update={"start": self.shift(w.start), "end": self.shift(w.end, end=True)})
            for w in segment.words
        ]
        update = {
            "start": self.shift(segment.start),
            "end": self.shift(segment.end, end=True),
            "words": words,
        }
        return segment.model_copy(update=update)

    def transcript(self, transcript: Transcript) -> Transcript:
        if not self._at:
            return transcript
        segments = [self.segment(s) for s in transcript.segments]
        duration = transcript.duration + self.dropped
        return transcript.model_copy(update={"segments": segments, "duration": duration})


def stream_stats(session: LiveSession, inbox: Inbox) -> dict[str, float]:
    """What a stream cost, sent with `done`: the memory bounds can be checked from outside."""
    return {
        "audio_s": round(session.time, 3),
        "decodes": session.decodes,
        "peak_buffer_s": round(session.buffer.peak / SAMPLE_RATE, 3),
        "peak_pending_s": round(inbox.peak_samples / SAMPLE_RATE, 3),
        "dropped_s": round(inbox.dropped_seconds, 3),
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
