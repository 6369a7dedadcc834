"""The bounded inbox between a live socket and its session (`hark.server.streams.Inbox`):
what a hostile or fast client can make it hold. The socket side is tested in
tests/test_live_streams.py."""

from __future__ import annotations

import asyncio
from typing import Any

import numpy as np
import pytest

from hark.live.windows import ENCODER_PAD_S
from hark.schema import Segment, Transcript, Word
from hark.server.streams import MAX_CONTROLS, Audio, Control, Inbox, StreamFailure, Timeline


def samples(n: int, value: float = 0.0) -> np.ndarray:
    return np.full(n, value, dtype=np.float32)


def test_drop_keeps_the_newest_audio_and_the_controls_in_order() -> None:
    async def run() -> None:
        inbox = Inbox(1.0, "drop")
        await inbox.put_audio(samples(8000, 1.0))
        await inbox.put_control(Control("flush"))
        await inbox.put_audio(samples(8000, 2.0))
        dropped = await inbox.put_audio(samples(4000, 3.0))  # 0.25 s over the bound
        assert dropped == 4000 and inbox.dropped_samples == 4000
        assert inbox.pending_samples == 16000 == inbox.peak_samples
        first = await inbox.get()
        assert isinstance(first, Audio) and first.samples.size == 4000  # the oldest, cut
        assert first.gap == 4000  # ...where the session learns what is missing
        assert isinstance(await inbox.get(), Control)
        rest = await inbox.get()
        assert isinstance(rest, Audio)
        assert rest.samples.size == 12000 and rest.samples[-1] == 3.0 and rest.gap == 0
        # A later drop: a whole entry and part of the next go; the gap is carried to it.
        await inbox.put_audio(samples(16000, 4.0))
        await inbox.put_audio(samples(8000, 5.0))
        await inbox.put_audio(samples(16000, 6.0))
        kept = await inbox.get()
        assert isinstance(kept, Audio) and kept.gap == 24000 and set(kept.samples) == {6.0}

    asyncio.run(run())


def test_wait_blocks_at_the_bound_and_drops_nothing() -> None:
    async def run() -> None:
        inbox = Inbox(1.0, "wait")
        await inbox.put_audio(samples(16000))
        blocked = asyncio.create_task(inbox.put_audio(samples(1600)))
        await asyncio.sleep(0.05)
        assert not blocked.done()
        await inbox.get()
        await asyncio.wait_for(blocked, 1)
        assert inbox.dropped_samples == 0 and inbox.pending_samples == 1600

    asyncio.run(run())


def test_tiny_messages_join_into_few_entries() -> None:
    async def run() -> None:
        inbox = Inbox(10.0, "drop")
        for _ in range(16000):  # one sample a message
            await inbox.put_audio(samples(1))
        assert inbox.pending_samples == 16000
        assert inbox.size <= 16000 // 1600 + 1

    asyncio.run(run())


def test_repeated_controls_are_one_and_too_many_end_the_stream() -> None:
    async def run() -> None:
        inbox = Inbox(10.0, "drop")
        for _ in range(100):
            await inbox.put_control(Control("flush"))
        assert inbox.size == 1
        await inbox.put_control(Control("config", 1))
        await inbox.put_control(Control("config", 2))
        assert inbox.size == 2
        await inbox.get()
        latest = await inbox.get()
        assert isinstance(latest, Control) and latest.detail == 2
        for _ in range(MAX_CONTROLS):  # alternating: nothing to join
            await inbox.put_audio(samples(1))
            await inbox.put_control(Control("flush"))
        with pytest.raises(StreamFailure) as failure:
            await inbox.put_audio(samples(1))
            await inbox.put_control(Control("flush"))
        assert failure.value.code == "too_many_messages" and failure.value.close_code == 1008

    asyncio.run(run())


def test_a_bad_overload_is_refused() -> None:
    with pytest.raises(ValueError, match="drop or wait"):
        Inbox(1.0, "block")


def test_timeline_puts_times_back_on_the_senders_clock() -> None:
    timeline = Timeline()
    timeline.gap(2.0, 16000)  # 1 s dropped at session time 2
    timeline.gap(5.0, 8000)  # 0.5 s more at 5
    timeline.gap(6.0, 0)  # nothing dropped: no entry
    assert timeline.dropped == 1.5
    assert [timeline.shift(t) for t in (1.0, 2.0, 4.0, 5.0, 7.0)] == [1.0, 3.0, 5.0, 6.5, 8.5]
    assert timeline.shift(2.0, end=True) == 2.0  # an end at the gap is before it
    words = [
        Word(word="a", start=1.5, end=2.0, score=1),
        Word(word="b", start=2.0, end=2.5, score=1),
    ]
    segment = Segment(start=1.5, end=2.5, text="a b", words=words)
    moved = timeline.transcript(Transcript(segments=[segment], duration=8.0))
    assert moved.duration == 9.5
    assert (moved.segments[0].start, moved.segments[0].end) == (1.5, 3.5)
    assert [(w.start, w.end) for w in moved.segments[0].words] == [(1.5, 2.0), (3.0, 3.5)]


def test_live_options_decode_at_temperature_zero_unless_asked() -> None:
    """No sampling fallback for live windows by default (captions are the same on every run);
    a stream that names temperatures gets them, and the live beam size applies."""
    from types import SimpleNamespace

    from hark.server.streams import live_options
    from hark.settings import Settings

    state = SimpleNamespace(settings=Settings(live_beam_size=2))
    default = live_options(state, {})  # type: ignore[arg-type]
    assert default.temperature == [0.0] and default.beam_size == 2
    assert default.decode().temperatures == (0.0,)
    asked = live_options(state, {"temperature": ["0", "0.4"], "beam_size": 5})  # type: ignore[arg-type]
    assert asked.temperature == [0.0, 0.4] and asked.beam_size == 5


@pytest.mark.parametrize(
    ("env", "device", "encode_s", "commit", "two_pass", "full"),
    [
        ({}, "cpu", 0.9, "pauses", True, False),  # live_final_input "auto": a slow CPU
        ({}, "cpu", 0.3, "pauses", True, True),  # a fast one
        ({}, "cuda", None, "pauses", True, True),
        ({"live_max_streams": 0}, "cpu", None, "pauses", True, False),
        ({"live_final_input": "short"}, "cuda", None, "pauses", True, False),
        (
            {"live_commit": "words", "live_final_beam_size": 1, "live_final_input": "short"},
            *("cpu", None, "words", False, False),
        ),
        (
            {"live_final_beam_size": 1, "live_final_input": "full"},
            *("cpu", None, "pauses", True, True),
        ),
    ],
)
def test_sessions_follow_the_commit_and_final_settings(
    monkeypatch: pytest.MonkeyPatch,
    env: dict[str, object],
    device: str,
    encode_s: float | None,
    commit: str,
    two_pass: bool,
    full: bool,
) -> None:
    """HARK_LIVE_COMMIT, HARK_LIVE_FINAL_BEAM_SIZE and HARK_LIVE_FINAL_INPUT reach every new
    session (the sessions' own behaviour with them is tested in test_live_policy.py); `auto`
    on CPU times a 30 s encoding (here given; the real timing: test_final_input_auto_...)."""
    from types import SimpleNamespace

    import hark.server.streams as streams
    from hark.server.metrics import Metrics
    from hark.server.streams import (
        StreamConfig,
        choose_final_input,
        live_options,
        new_session,
    )
    from hark.settings import Settings

    def timed(asr: object) -> float:
        assert encode_s is not None, "timed only for auto on a CPU with live streams"
        return encode_s

    monkeypatch.setattr(streams, "encode_seconds", timed)

    pads: list[float | None] = []

    def decode_window(samples: np.ndarray, options: object, **kw: Any) -> SimpleNamespace:
        pads.append(kw["encoder_pad_s"])
        return SimpleNamespace(is_silence=True, language="en", compression_ratio=1.0)

    pipeline = SimpleNamespace(vad=None, asr=SimpleNamespace(device=device))
    engine = SimpleNamespace(pipeline=pipeline, decode_window=decode_window)
    settings = Settings(**env)
    state = SimpleNamespace(
        settings=settings,
        metrics=Metrics(),
        loaded=lambda: engine,
        live_final_input=choose_final_input(settings, pipeline.asr),  # type: ignore[arg-type]
    )
    assert state.live_final_input.encode_s == encode_s  # timed only when auto decides by it
    session = new_session(state, StreamConfig(live_options(state, {})))  # type: ignore[arg-type]
    assert session.options.policy.commit == commit
    assert (session._final_decoder is not None) is two_pass
    # Step windows are encoded padded; full finals as 30 s inputs with no prompt.
    assert session.options.prompt_finals is not full
    for decoder in filter(None, [session._decoder, session._final_decoder]):
        asyncio.run(decoder(np.zeros(16_000, np.float32), None, "en"))
    assert ENCODER_PAD_S is not None
    assert pads == [ENCODER_PAD_S, None if full else ENCODER_PAD_S][: 1 + two_pass]
    # Each decoder's decodes are timed under its kind (hark_live_decode_seconds).
    registry = state.metrics.registry
    for kind, made in (("step", 1), ("final", int(two_pass))):
        labels = {"kind": kind}
        assert registry.get_sample_value("hark_live_decode_seconds_count", labels) == made
    # A stream that asks for a beam at least as wide needs no second pass, unless its finals
    # hear a full input.
    wide = StreamConfig(live_options(state, {"beam_size": 5}))  # type: ignore[arg-type]
    assert (new_session(state, wide)._final_decoder is not None) is full  # type: ignore[arg-type]
