"""Helpers shared by test modules (importable because pytest puts tests/ on sys.path)."""

from __future__ import annotations

from hark.schema import Transcript

EOT = 50257
# Random weights may stop at once: forbid end-of-text and cap the length, so every chunk
# yields words (the same trick the benchmarks use).
FIXED = dict(beam_size=1, temperature=[0.0], suppress_tokens=[-1, EOT], max_new_tokens=24)


def check_times(transcript: Transcript) -> None:
    """Times monotone, inside their segment and inside the audio; every word timed."""
    last_start = 0.0
    for segment in transcript.segments:
        assert 0.0 <= segment.start <= segment.end <= transcript.duration + 1e-3
        assert segment.text.strip()
        for word in segment.words:
            assert segment.start <= word.start <= word.end <= segment.end
            assert word.start >= last_start
            assert 0.0 <= word.score <= 1.0
            last_start = word.start
