"""Live transcription on the real Whisper base (CPU int8) and real speech: the words come out,
each once, and nothing is written on silence or noise."""

from __future__ import annotations

import asyncio
import itertools
import re
from pathlib import Path

import numpy as np

from hark.engine import Engine
from hark.live.events import Committed, Final, Partial
from hark.live.session import LiveSession, SessionOptions
from hark.live.windows import engine_decoder
from hark.options import TranscribeOptions
from hark.vad import speech_probabilities

JFK = (
    "and so my fellow americans ask not what your country can do for you "
    "ask what you can do for your country"
)


def words_of(text: str) -> list[str]:
    return re.sub(r"[^\w' ]+", " ", text.lower()).split()


def wer(reference: list[str], hypothesis: list[str]) -> float:
    d = np.arange(len(hypothesis) + 1)
    for i, r in enumerate(reference, 1):
        prev, d[0] = d.copy(), i
        for j, h in enumerate(hypothesis, 1):
            d[j] = min(prev[j] + 1, d[j - 1] + 1, prev[j - 1] + (r != h))
    return float(d[-1]) / len(reference)


def session(engine: Engine, **options: object) -> LiveSession:
    """A session whose windows go through the engine's scheduler, as the server's do."""
    decode = engine_decoder(engine, TranscribeOptions(language="en", beam_size=1))
    return LiveSession(
        decode,
        lambda audio: speech_probabilities(audio, engine.pipeline.vad),
        SessionOptions(**options),  # type: ignore[arg-type]
        language="en",
    )


def test_real_speech_streamed_in_steps(real_engine: Engine, shared_audio: Path) -> None:
    from hark.audio import load_audio

    audio = np.r_[load_audio(shared_audio / "jfk.flac"), np.zeros(16000, np.float32)]
    live = session(real_engine, step_s=2.0)

    async def stream() -> list[object]:
        events: list[object] = []
        for i in range(0, audio.size, 32000):  # 2 s at a time: an interim decode each
            events += await live.feed(audio[i : i + 32000])
        return events + await live.end()

    events = asyncio.run(stream())
    finals = [e.segment for e in events if isinstance(e, Final)]
    said = [w for s in finals for w in words_of(s.text)]
    assert wer(words_of(JFK), said) <= 0.15, said
    # Committed words reach the finals exactly once, in order; none twice at a seam.
    committed = [w.word.strip() for e in events if isinstance(e, Committed) for w in e.words]
    assert committed == [w.word for s in finals for w in s.words]
    assert all(a != b for a, b in itertools.pairwise(said)), said
    starts = [w.start for s in finals for w in s.words]
    assert starts == sorted(starts) and starts[-1] < 11.0
    assert any(isinstance(e, Partial) and e.text for e in events)


def test_no_text_on_silence_or_noise(real_engine: Engine) -> None:
    rng = np.random.default_rng(1)
    noise = (rng.standard_normal(16000 * 20) * 0.01).astype(np.float32)
    audio = np.r_[np.zeros(16000 * 10, np.float32), noise]
    live = session(real_engine)

    async def stream() -> list[object]:
        events: list[object] = []
        for i in range(0, audio.size, 16000):
            events += await live.feed(audio[i : i + 16000])
        return events + await live.end()

    events = asyncio.run(stream())
    assert not [e for e in events if isinstance(e, Final | Partial | Committed)]
    assert live.decodes == 0


def test_a_long_utterance_in_the_server_mode(real_engine: Engine, shared_audio: Path) -> None:
    """The server's defaults (commit "pauses", a beam-5 final pass) on 10.4 s of speech
    without a pause (LibriSpeech 1089-134686-0000) at real-time steps: the words come out
    once, the final decode re-hears only the utterance's last ~6 s (`final_window_s`, the
    words before it from the partials) and the utterance is decoded at the final beam once."""
    from hark.dev.real_speech import reference_clips
    from hark.live.policy import PolicyOptions

    clip = next(c for c in reference_clips(shared_audio) if c.name == "libri0")
    audio = np.r_[np.zeros(8000, np.float32), clip.audio, np.zeros(24000, np.float32)]
    finals: list[float] = []
    wide = engine_decoder(real_engine, TranscribeOptions(language="en", beam_size=5))

    async def final_decoder(samples: np.ndarray, prompt: str | None, language: str | None):
        finals.append(samples.size / 16000)
        return await wide(samples, prompt, language)

    live = LiveSession(
        engine_decoder(real_engine, TranscribeOptions(language="en", beam_size=1)),
        lambda a: speech_probabilities(a, real_engine.pipeline.vad),
        SessionOptions(policy=PolicyOptions(commit="pauses")),
        language="en",
        final_decoder=final_decoder,
    )

    async def stream() -> list[object]:
        events: list[object] = []
        for i in range(0, audio.size, 1600):  # 0.1 s messages, as a microphone sends them
            events += await live.feed(audio[i : i + 1600])
        return events + await live.end()

    events = asyncio.run(stream())
    said = [w for e in events if isinstance(e, Final) for w in words_of(e.segment.text)]
    assert wer(words_of(clip.reference), said) <= 0.15, said
    assert all(a != b for a, b in itertools.pairwise(said)), said
    assert len(finals) == 1 and finals[0] <= 6.5, finals


def test_a_window_over_the_compression_limit_is_flagged_as_a_loop(
    real_engine: Engine, shared_audio: Path
) -> None:
    """The session drops a step decode the decoder flags (a repetition loop): the flag is the
    options' compression-ratio limit applied to the window's real text."""
    from hark.audio import load_audio

    audio = load_audio(shared_audio / "jfk.flac")[: 8 * 16000]
    for limit, looped in ((2.4, False), (0.5, True)):
        options = TranscribeOptions(language="en", beam_size=1, compression_ratio_threshold=limit)
        window = asyncio.run(engine_decoder(real_engine, options)(audio, None, "en"))
        assert window.words and window.looped is looped


def test_the_auto_finals_input_times_the_real_encoder(real_engine: Engine) -> None:
    """HARK_LIVE_FINAL_INPUT=auto's timing on the real base: one 30 s encoding, a real wall
    time (its value is the machine's; docs/benchmarks.md has this one's)."""
    import math

    from hark.live.windows import encode_seconds

    took = encode_seconds(real_engine.pipeline.asr, runs=1)
    assert math.isfinite(took) and 0 < took < 60
