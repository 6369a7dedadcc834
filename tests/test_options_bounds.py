"""Issue 13: every option combination is either refused up front or bounded in the work it asks
for. Hypothesis drives the options model, the VAD cut & merge and the subtitle options with
hostile values (nan, inf, huge, negative, wrong types); the fixed cases are the probe's."""

from __future__ import annotations

import itertools
import math
import threading
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import TypeAdapter, ValidationError

from hark.formats import SubtitleOptions
from hark.options import MAX_TOKENS_WITHOUT_EOT, TranscribeOptions
from hark.vad import FRAME_SECONDS, MIN_CHUNK_SPEECH_S, VadOptions, _cut_long, detect_speech

FUZZ = settings(
    max_examples=300, deadline=None, derandomize=True, database=None,
    suppress_health_check=list(HealthCheck),
)  # fmt: skip

NUMBERS = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.integers(min_value=-(10**12), max_value=10**12),
    st.sampled_from(["nan", "inf", "-inf", "1e308", "-1e308", "NaN", "Infinity", "0", "-1"]),
)
VALUES = st.one_of(
    NUMBERS,
    st.booleans(),
    st.none(),
    st.text(max_size=12),
    st.lists(NUMBERS, max_size=4),
)
FIELDS = sorted(TranscribeOptions.model_fields)


def _finite_everywhere(value: Any) -> bool:
    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, list | tuple):
        return all(_finite_everywhere(v) for v in value)
    if isinstance(value, dict):
        return all(_finite_everywhere(v) for v in value.values())
    return True


@FUZZ
@given(values=st.dictionaries(st.sampled_from(FIELDS), VALUES, max_size=6))
def test_any_options_are_refused_or_bounded(values: dict[str, Any]) -> None:
    try:
        options = TranscribeOptions(**values)
    except ValidationError:
        return  # refused up front: the server answers 422
    assert _finite_everywhere(options.model_dump())
    vad = options.vad()  # accepted options always make valid VAD and decode options
    options.decode()
    assert vad.chunk_size - 2 * vad.speech_pad_ms / 1000 >= MIN_CHUNK_SPEECH_S
    assert 0 < options.patience <= 4 and options.beam_size <= 20 and options.best_of <= 20
    assert len(options.temperature) <= 10
    assert all(-1 <= t <= 50257 for t in options.suppress_tokens)
    if {50256, 50257} & set(options.suppress_tokens):
        assert options.max_new_tokens is not None
        assert options.max_new_tokens <= MAX_TOKENS_WITHOUT_EOT


@FUZZ
@given(
    values=st.dictionaries(
        st.sampled_from(
            [
                *("max_line_width", "max_line_count", "max_cue_duration", "min_cue_duration"),
                *("pause_split", "highlight_words"),
            ]
        ),
        VALUES,
        max_size=4,
    )
)
def test_any_subtitle_options_are_refused_or_finite(values: dict[str, Any]) -> None:
    try:
        options = TypeAdapter(SubtitleOptions).validate_python(values)
    except (ValidationError, ValueError):
        return
    assert all(
        math.isfinite(v)
        for v in (options.max_cue_duration, options.min_cue_duration, options.pause_split)
        if v is not None
    )


@FUZZ
@given(
    start=st.integers(0, 500),
    length=st.integers(0, 3000),
    max_frames=st.integers(-3, 1000),
    seed=st.integers(0, 2**16),
)
def test_cut_long_always_advances(start: int, length: int, max_frames: int, seed: int) -> None:
    end = start + length
    probs = np.random.default_rng(seed).random(end + 1).astype(np.float32)
    pieces = _cut_long(start, end, probs, max_frames)
    assert pieces[0][0] == start and pieces[-1][1] == end
    assert all(a[1] == b[0] for a, b in itertools.pairwise(pieces))
    assert all(0 < e - s <= max(1, max_frames) for s, e in pieces) or length == 0
    assert len(pieces) <= max(1, length)


@pytest.mark.parametrize("max_frames", [-1, 0, 1, 2])
def test_cut_long_tiny_windows_terminate(max_frames: int) -> None:
    # max_frames = 1 is what speech_pad_ms=15000 used to give: a loop that never advanced.
    probs = np.full(10_000, 0.9, dtype=np.float32)
    out: list[list[tuple[int, int]]] = []
    worker = threading.Thread(target=lambda: out.append(_cut_long(0, 10_000, probs, max_frames)))
    worker.daemon = True  # an endless loop must fail this test, not hang the suite
    worker.start()
    worker.join(10)
    assert out, "_cut_long did not return within 10 s"
    pieces = out[0]
    assert pieces[0][0] == 0 and pieces[-1][1] == 10_000 and len(pieces) <= 10_000


@FUZZ
@given(
    pad=st.integers(0, 20_000),
    chunk=st.floats(1, 30),
    speech=st.lists(st.floats(0, 1), min_size=0, max_size=2000),
)
def test_detect_speech_is_refused_or_bounded(pad: int, chunk: float, speech: list[float]) -> None:
    try:
        options = VadOptions(speech_pad_ms=pad, chunk_size=chunk)
    except ValueError as exc:
        assert "speech_pad_ms" in str(exc) and "chunk_size" in str(exc)
        return
    probs = np.asarray(speech, dtype=np.float32)
    audio = np.zeros(len(probs) * 512, dtype=np.float32)
    chunks = detect_speech(audio, options, probs=probs)
    duration = len(probs) * FRAME_SECONDS
    # Never more chunks than pieces of at least the minimum speech per chunk.
    assert len(chunks) <= duration / MIN_CHUNK_SPEECH_S + 1
    for chunk_ in chunks:
        assert chunk_.duration <= options.chunk_size + 1e-6


@pytest.mark.parametrize(
    ("values", "named"),
    [
        (dict(speech_pad_ms=15000), ["speech_pad_ms"]),
        (dict(chunk_size=1, speech_pad_ms=500), ["speech_pad_ms", "chunk_size"]),
        (dict(chunk_size=5, speech_pad_ms=2400), ["speech_pad_ms", "chunk_size"]),
        (dict(suppress_tokens="50257"), ["suppress_tokens", "max_new_tokens"]),
        (dict(suppress_tokens="-1,50256", max_new_tokens=440), ["max_new_tokens"]),
        (dict(suppress_tokens="50364"), ["suppress_tokens"]),
        (dict(patience=1000), ["patience"]),
        (dict(patience="inf"), ["patience"]),
        (dict(patience=1e308), ["patience"]),
        (dict(temperature="nan"), ["temperature"]),
        (dict(temperature=",".join(["0"] * 11)), ["temperature"]),
        (dict(length_penalty="inf"), ["length_penalty"]),
        (dict(log_prob_threshold="nan"), ["log_prob_threshold"]),
        (dict(compression_ratio_threshold="nan"), ["compression_ratio_threshold"]),
        (dict(vad_onset="nan"), ["vad_onset", "finite"]),
        (dict(max_duration="inf"), ["max_duration"]),
    ],
)
def test_the_probes_requests_are_refused(values: dict[str, Any], named: list[str]) -> None:
    with pytest.raises(ValidationError) as info:
        TranscribeOptions(**values)
    text = str(info.value)
    for name in named:
        assert name in text


def test_eot_suppression_with_a_small_cap_is_allowed() -> None:
    # What the tests and benchmarks use to make random-weight models talk.
    options = TranscribeOptions(suppress_tokens="-1,50257", max_new_tokens=24)
    assert options.suppress_tokens == [-1, 50257]


@pytest.mark.parametrize(
    "values",
    [dict(max_cue_duration="inf"), dict(min_cue_duration="nan"), dict(pause_split=float("nan"))],
)
def test_non_finite_subtitle_options_are_refused(values: dict[str, Any]) -> None:
    with pytest.raises(ValidationError, match="finite"):
        TypeAdapter(SubtitleOptions).validate_python(values)
