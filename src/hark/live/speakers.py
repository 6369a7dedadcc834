"""Speaker labels for live finals (`diarize=true`): online clustering of segment embeddings.

Each final segment's audio is embedded with the embedded GE2E speaker encoder
(`hark.diarize.ge2e`, no download); the segment joins the speaker whose running mean embedding
is the most similar when the cosine similarity reaches `threshold`, and starts a new speaker
otherwise (up to `max_speakers`, then the nearest). Labels are given in order of appearance and
never change: a final is never revised. Segments too short to embed reliably take the nearest
known speaker (or the first label when there is none yet).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from functools import cache

import numpy as np

from hark.diarize.diarizer import speaker_label

Embed = Callable[[np.ndarray], np.ndarray]


class OnlineSpeakers:
    """GE2E on the shared stereo clip (one speaker per channel, halves of 1-2.5 s): the same
    speaker's halves score 0.80-0.83, the other speaker's 0.53-0.61, hence 0.7.

    Attributes:
    threshold: cosine similarity to a speaker's mean at or above which a segment joins it.
    min_seconds: shorter segments are not embedded (they take the nearest speaker).
    max_speakers: at most this many labels per session.
    """

    def __init__(
        self,
        embed: Embed,
        *,
        threshold: float = 0.7,
        min_seconds: float = 1.0,
        max_speakers: int = 16,
    ) -> None:
        self._embed = embed
        self.threshold = threshold
        self.min_samples = round(min_seconds * 16000)
        self.max_speakers = max_speakers
        self._sums: list[np.ndarray] = []
        self._last: int | None = None

    @property
    def count(self) -> int:
        return len(self._sums)

    def label(self, audio: np.ndarray) -> str:
        """The speaker of one segment's 16 kHz audio (blocking: runs the encoder)."""
        if audio.size < self.min_samples:
            index = self._last if self._last is not None else 0
            if not self._sums:
                self._sums.append(np.zeros(0, dtype=np.float32))  # placeholder, no voice yet
            return speaker_label(index)
        vector = self._embed(audio)
        return speaker_label(self.assign(vector))

    def assign(self, vector: np.ndarray) -> int:
        vector = vector / max(float(np.linalg.norm(vector)), 1e-12)
        scores = [
            float(s @ vector / max(float(np.linalg.norm(s)), 1e-12)) if s.size else -1.0
            for s in self._sums
        ]
        best = int(np.argmax(scores)) if scores else -1
        if best >= 0 and self._sums[best].size == 0:
            # A placeholder from a short first segment: this voice is that speaker.
            self._sums[best] = vector.copy()
        elif best >= 0 and (scores[best] >= self.threshold or len(self._sums) >= self.max_speakers):
            self._sums[best] = self._sums[best] + vector
        else:
            self._sums.append(vector.copy())
            best = len(self._sums) - 1
        self._last = best
        return best


_lock = threading.Lock()


@cache
def _encoder() -> Callable[[np.ndarray], np.ndarray]:
    from hark.diarize.embedding_models import load_embedding_model

    model = load_embedding_model(None)
    return model.embed_clip


def default_embed(audio: np.ndarray) -> np.ndarray:
    """The embedded GE2E encoder, loaded once per process on first use."""
    with _lock:
        encoder = _encoder()
    return encoder(audio)
