"""Known speakers: enrol reference samples and name the clusters that match them."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from hark.diarize.embedding import SpeakerEmbedding, l2_normalise
from hark.diarize.errors import DiarizationError
from hark.diarize.speech import SpeechOptions, speech_regions

MIN_ENROLMENT_SECONDS = 0.5


def enrol_speakers(
    samples: Mapping[str, np.ndarray],
    embedding: SpeakerEmbedding,
    speech: SpeechOptions | None = None,
) -> dict[str, np.ndarray]:
    """One embedding per name, from the speech (VAD) of its 16 kHz mono reference sample.

    Raises:
        DiarizationError: A sample that is not mono or holds too little speech.
    """
    enrolled: dict[str, np.ndarray] = {}
    for name, audio in samples.items():
        audio = np.asarray(audio, dtype=np.float32)
        if not name or not name.strip():
            raise DiarizationError("known speaker names must not be empty")
        if audio.ndim != 1:
            raise DiarizationError(f"reference sample of {name!r} must be mono (1-D)")
        regions = speech_regions(audio, speech)
        voiced = np.concatenate([audio[s:e] for s, e in regions]) if regions else audio[:0]
        if len(voiced) < MIN_ENROLMENT_SECONDS * embedding.sample_rate:
            raise DiarizationError(
                f"reference sample of {name!r} holds {len(voiced) / embedding.sample_rate:.2f} s "
                f"of speech; at least {MIN_ENROLMENT_SECONDS} s are needed"
            )
        enrolled[name.strip()] = embedding.embed_clip(voiced)
    return enrolled


def match_known_speakers(
    centroids: np.ndarray, enrolled: Mapping[str, np.ndarray], threshold: float
) -> dict[int, str]:
    """Cluster index -> name, one cluster per name at most, cosine similarity >= threshold.

    The pairing maximises the total similarity (Hungarian assignment), so two clusters never
    take the same name and a name goes to its best cluster rather than the first one met.
    """
    from scipy.optimize import linear_sum_assignment

    if len(centroids) == 0 or not enrolled:
        return {}
    names = list(enrolled)
    references = l2_normalise(np.stack([enrolled[n] for n in names]))
    similarity = np.asarray(centroids, dtype=np.float64) @ references.T
    rows, cols = linear_sum_assignment(similarity, maximize=True)
    return {
        int(r): names[c] for r, c in zip(rows, cols, strict=True) if similarity[r, c] >= threshold
    }
