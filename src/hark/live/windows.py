"""The one place where a live window meets the model.

Every decode of every live stream goes through `engine_decoder`, which hands the window to the
engine: the scheduler puts it in its next batch, ahead of file requests' chunks, batched with
other streams' windows (`Engine.decode_window`, priority "live").
"""

from __future__ import annotations

import asyncio
import functools
import math
import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from hark.decode_options import ChunkResult
from hark.engine import Engine
from hark.live.events import DecodedWindow, WindowDecoder
from hark.live.words import LiveWord
from hark.options import TranscribeOptions
from hark.scheduler import Priority

if TYPE_CHECKING:
    from hark.asr import WhisperASR

ENCODER_PAD_S: float | None = 10.0
"""Live windows are encoded as their length plus this much padding (whole seconds, at most
30 s) instead of as 30 s inputs (None). Measured on the long form with the real base
(bench/live_replay.py, docs/benchmarks.md): with 2 s Whisper loops (140 inserted words), with
5 s it looped in 1 run of 4 (135), with 10 s not in 3 runs, at 1.7x less decode CPU than
30 s inputs; the words otherwise differ within the run-to-run spread."""


FULL_INPUT_ENCODE_BUDGET_S = 0.5
"""`HARK_LIVE_FINAL_INPUT=auto` on CPU: finals hear full 30 s inputs when one 30 s encoding
takes at most this long. On the 2-core machine of docs/benchmarks.md (session 12) one takes
0.9-1.0 s with the base model, a 6 s final then costs 1.7 s (1.1 s with the 10 s padding),
and the p95 final after a pause was 2.3-2.8 s; at 0.5 s or less, a full final costs about
what a padded one costs there."""


@dataclass(frozen=True)
class FinalInput:
    """What `HARK_LIVE_FINAL_INPUT` came to at load: `full` (finals decoded as the files'
    chunks) and, when `auto` timed it, one 30 s encoding's seconds (shown by /ready)."""

    full: bool
    encode_s: float | None = None


def encode_seconds(asr: WhisperASR, runs: int = 2) -> float:
    """Wall seconds of one encoder pass over a 30 s input (the fastest of `runs`, after one
    pass that warms the model up)."""
    from hark.asr import WINDOW_FRAMES

    features = asr.features([np.zeros(16_000, np.float32)], WINDOW_FRAMES)
    np.asarray(asr.encode(features))
    best = math.inf
    for _ in range(runs):
        started = time.perf_counter()
        np.asarray(asr.encode(features))  # on CPU the encoder output is ready when returned
        best = min(best, time.perf_counter() - started)
    return best


def second_pass(
    options: TranscribeOptions, final_beam: int, full: bool, pad: float | None = ENCODER_PAD_S
) -> tuple[TranscribeOptions, float | None] | None:
    """The decoding options and encoder padding of a session's `final_decoder`, or None when
    finals need no pass of their own: they get one at a beam wider than the stream's
    (`HARK_LIVE_FINAL_BEAM_SIZE`), or to hear a full 30 s input (`HARK_LIVE_FINAL_INPUT`).
    The server and bench/live_replay.py both build their sessions' second pass here."""
    beam = max(final_beam, options.beam_size)
    if not full and beam == options.beam_size:
        return None
    return options.model_copy(update={"beam_size": beam}), None if full else pad


def window_words(result: ChunkResult) -> list[LiveWord]:
    """A window's words, or none when the window reads as silence or a failed decode."""
    if result.is_silence:
        return []
    return [
        LiveWord(str(w["word"]), float(w["start"]), float(w["end"]), float(w["probability"]))
        for w in result.words
    ]


def engine_decoder(
    engine: Engine,
    options: TranscribeOptions,
    cancel: threading.Event | None = None,
    encoder_pad_s: float | None = ENCODER_PAD_S,
    priority: Priority = "live",
) -> WindowDecoder:
    """A session decoder: its windows go to the engine's scheduler at `priority` ("final"
    for a session's `final_decoder`: its decodes are what a caption waits on)."""

    async def decode(
        samples: np.ndarray, prompt: str | None, language: str | None
    ) -> DecodedWindow:
        # Blocking until the scheduler ran the window in a batch: in a thread. `prompt` (the
        # stream's finalised text) follows the options' own `initial_prompt`, kept whole.
        result = await asyncio.to_thread(
            functools.partial(
                engine.decode_window,
                language=language,
                prompt=prompt,
                cancel=cancel,
                encoder_pad_s=encoder_pad_s,
                priority=priority,
            ),
            samples,
            options,
        )
        limit = options.compression_ratio_threshold
        looped = limit is not None and result.compression_ratio > limit
        return DecodedWindow(window_words(result), result.language, looped)

    return decode
