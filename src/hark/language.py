"""Which language is spoken: Whisper's language detection over several speech chunks.

The first 30 s of a file may be music, silence or an intro in another language, so the sample
is spread over the whole file and each chunk's vote is weighted by its amount of speech.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from hark.asr import WhisperASR
from hark.decode_options import ChunkResult
from hark.schema import LanguageCandidate
from hark.vad import SpeechChunk


@dataclass(frozen=True)
class LanguageResult:
    """The detected language, its probability and the top candidates."""

    language: str
    probability: float
    candidates: list[LanguageCandidate]


def detect_language(
    asr: WhisperASR,
    samples: np.ndarray,
    chunks: Sequence[SpeechChunk],
    max_chunks: int,
    *,
    keep: dict[int, np.ndarray] | None = None,
) -> LanguageResult:
    """Average the language probabilities of up to `max_chunks` chunks spread over the file.

    `keep`, on CPU: receives the encoder output of each chunk used, by chunk index, so the
    ASR batch need not encode those chunks again (`WhisperASR.transcribe_batch(encoded=)`).
    """
    spread = np.linspace(0, len(chunks) - 1, min(max_chunks, len(chunks))).round()
    picks = [int(i) for i in np.unique(spread)]
    chosen = [chunks[i] for i in picks]
    features = asr.features([c.audio(samples) for c in chosen])
    encoder_output = asr.encode(features)
    if keep is not None and asr.device == "cpu":
        rows = np.asarray(encoder_output)
        keep.update({i: rows[k].copy() for k, i in enumerate(picks)})
    probs = asr.language_probabilities(encoder_output)
    # Weight each chunk by its amount of speech, so a short cough counts for little.
    weights = np.array([c.duration for c in chosen]) + 1e-6
    totals: dict[str, float] = {}
    for weight, chunk_probs in zip(weights / weights.sum(), probs, strict=True):
        for lang, p in chunk_probs.items():
            totals[lang] = totals.get(lang, 0.0) + float(weight) * p
    ranked = sorted(totals.items(), key=lambda kv: kv[1], reverse=True)
    return LanguageResult(
        language=ranked[0][0],
        probability=round(ranked[0][1], 4),
        candidates=[LanguageCandidate(language=k, probability=round(v, 4)) for k, v in ranked[:5]],
    )


def majority_language(results: list[ChunkResult]) -> LanguageResult:
    """With a language per chunk: the one spoken longest, and each one's share of speech."""
    spoken: dict[str, float] = {}
    for r in results:
        if r.text.strip():
            spoken[r.language] = spoken.get(r.language, 0.0) + r.chunk.duration
    total = sum(spoken.values()) or 1.0
    ranked = sorted(spoken.items(), key=lambda kv: kv[1], reverse=True)
    return LanguageResult(
        ranked[0][0],
        round(ranked[0][1] / total, 4),
        [LanguageCandidate(language=k, probability=round(v / total, 4)) for k, v in ranked],
    )
