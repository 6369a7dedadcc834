"""Helpers shared by test modules (importable because pytest puts tests/ on sys.path)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from scipy.optimize import linear_sum_assignment

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


Turns = list[tuple[float, float, str]]


def der(reference: Turns, hypothesis: Turns, duration: float, collar: float = 0.25) -> float:
    """Frame-level DER (10 ms), overlap scored, optimal speaker mapping; `collar` is the total
    width removed around reference boundaries, as in pyannote.metrics."""
    frames = round(duration * 100)

    def matrix(turns: Turns) -> tuple[np.ndarray, list[str]]:
        labels = sorted({t[2] for t in turns})
        out = np.zeros((frames, max(1, len(labels))), dtype=bool)
        for start, end, label in turns:
            out[round(start * 100) : round(end * 100), labels.index(label)] = True
        return out, labels

    ref, _ = matrix(reference)
    hyp, _ = matrix(hypothesis)
    scored = np.ones(frames, dtype=bool)
    half = round(collar * 50)
    for start, end, _ in reference:
        for edge in (round(start * 100), round(end * 100)):
            scored[max(0, edge - half) : edge + half] = False
    ref, hyp = ref[scored], hyp[scored]
    overlap = ref.T.astype(float) @ hyp.astype(float)
    rows, cols = linear_sum_assignment(overlap, maximize=True)
    correct = np.zeros(len(ref))
    for r, c in zip(rows, cols, strict=True):
        correct += ref[:, r] & hyp[:, c]
    n_ref, n_hyp = ref.sum(axis=1), hyp.sum(axis=1)
    return float((np.maximum(n_ref, n_hyp) - correct).sum() / max(1, n_ref.sum()))


def read_rttm(path: Path, uri: str) -> Turns:
    turns = []
    for line in path.read_text().splitlines():
        parts = line.split()
        if parts and parts[1] == uri:
            start = float(parts[3])
            turns.append((start, start + float(parts[4]), parts[7]))
    return turns
