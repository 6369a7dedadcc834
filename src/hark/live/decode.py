"""The one place where a live window meets the model.

Every decode of every live stream goes through `decode_window`. Until the engine's priority
scheduling (`Engine.decode_window`, docs/live.md) is on main, it calls the loaded pipeline's
batched decoder directly, one window per call, from a worker thread; CTranslate2 serialises
calls on its own worker(s), so live windows take turns with the scheduler's file batches.
"""

from __future__ import annotations

import asyncio
import threading
from dataclasses import replace

import numpy as np

from hark.decoding import ChunkResult
from hark.live.session import DecodedWindow, WindowDecoder
from hark.live.words import LiveWord
from hark.options import TranscribeOptions
from hark.pipeline import Pipeline
from hark.server.state import ServerState
from hark.vad import SAMPLE_RATE, SpeechChunk


def decode_window(
    state: ServerState,
    samples: np.ndarray,
    options: TranscribeOptions,
    *,
    language: str | None,
    prompt: str | None,
    cancel: threading.Event | None = None,
) -> ChunkResult:
    """Decode one <= 30 s window of 16 kHz mono float32 (blocking: call it in a thread).
    Word times are seconds from the window's start. `prompt` (the stream's finalised text)
    follows the options' own `initial_prompt`."""
    del cancel  # the engine's call takes it; a direct call cannot be interrupted
    return decode_on(state.loaded_scheduler().pipeline, samples, options, language, prompt)


def decode_on(
    pipeline: Pipeline,
    samples: np.ndarray,
    options: TranscribeOptions,
    language: str | None,
    prompt: str | None,
) -> ChunkResult:
    """`decode_window`'s work on a given pipeline (also what tests run without a server)."""
    decode = options.decode()
    joined = " ".join(p for p in (decode.initial_prompt, prompt) if p)
    decode = replace(decode, initial_prompt=joined or None)
    duration = samples.size / SAMPLE_RATE
    chunk = SpeechChunk(0.0, duration, [(0.0, duration)])
    (result,) = pipeline.asr.transcribe_batch([samples], [chunk], [language], decode)
    return result


def window_words(result: ChunkResult) -> list[LiveWord]:
    """A window's words, or none when the window reads as silence or a failed decode."""
    if result.is_silence:
        return []
    return [
        LiveWord(str(w["word"]), float(w["start"]), float(w["end"]), float(w["probability"]))
        for w in result.words
    ]


def pipeline_decoder(pipeline: Pipeline, options: TranscribeOptions) -> WindowDecoder:
    """A session decoder on a pipeline of one's own (no server, no scheduler)."""

    async def decode(
        samples: np.ndarray, prompt: str | None, language: str | None
    ) -> DecodedWindow:
        result = await asyncio.to_thread(decode_on, pipeline, samples, options, language, prompt)
        return DecodedWindow(window_words(result), result.language)

    return decode


def server_decoder(state: ServerState, options: TranscribeOptions) -> WindowDecoder:
    """The session's decoder: `decode_window` in a worker thread."""

    async def decode(
        samples: np.ndarray, prompt: str | None, language: str | None
    ) -> DecodedWindow:
        result = await asyncio.to_thread(
            decode_window, state, samples, options, language=language, prompt=prompt
        )
        return DecodedWindow(window_words(result), result.language)

    return decode
