"""Optional speaker segmentation with pyannote's segmentation-3.0 (exported to ONNX).

The model reads 10 s chunks of 16 kHz audio ([batch, 1, samples]) and returns, per output frame,
log-probabilities over a *powerset* of local speakers: with 3 speakers and at most 2 at once the
7 classes are {}, {0}, {1}, {2}, {0,1}, {0,2}, {1,2}. Decoding takes the most likely class per
frame and turns it into 0/1 activity of each local speaker, so overlapped speech is kept.
Chunks slide with overlap; their local speakers are tied together by embedding clustering in
`hark.diarize.diarizer`, and `aggregate` turns the result back into global speaker activity.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from math import comb
from pathlib import Path

import numpy as np

from hark.diarize.errors import ModelFormatError
from hark.diarize.runtime import open_model

# pyannote/segmentation-3.0: 10 s chunks give 589 frames of a 991-sample receptive field
# every 270 samples (SincNet + pooling). Other models are assumed to tile the chunk evenly.
_KNOWN_FRAMES = {(160000, 589): (270, 991)}


@dataclass(frozen=True)
class SegmentationOptions:
    """Settings of the segmentation path.

    Attributes:
        step: Chunk step as a fraction of the chunk length (pyannote uses 0.1; 0.25 costs less).
        min_embedding_seconds: Local speakers active for less time in a chunk get no embedding
            (their frames still count, labelled through the chunk's other speakers).
        batch_size: Chunks per model call.
    """

    step: float = 0.25
    min_embedding_seconds: float = 0.5
    batch_size: int = 8


def powerset_classes(num_classes: int) -> list[tuple[int, ...]]:
    """The speaker sets of each powerset class, in pyannote's order.

    The number of local speakers and the largest set size are inferred from the class count
    (7 -> 3 speakers, at most 2 at once).
    """
    for speakers in range(1, 16):
        for max_set in range(1, speakers + 1):
            if sum(comb(speakers, k) for k in range(max_set + 1)) == num_classes:
                return [
                    subset
                    for size in range(max_set + 1)
                    for subset in itertools.combinations(range(speakers), size)
                ]
    raise ModelFormatError(f"{num_classes} output classes do not form a speaker powerset")


def powerset_to_multilabel(log_probs: np.ndarray) -> np.ndarray:
    """(..., frames, classes) powerset scores -> (..., frames, speakers) 0/1 activity."""
    classes = powerset_classes(log_probs.shape[-1])
    speakers = max((max(c) for c in classes if c), default=-1) + 1
    mapping = np.zeros((len(classes), speakers), dtype=np.float32)
    for index, subset in enumerate(classes):
        mapping[index, list(subset)] = 1.0
    return mapping[np.argmax(log_probs, axis=-1)]


@dataclass
class Segmentation:
    """Decoded model output over the whole audio.

    Attributes:
        chunk_starts: Start sample of each chunk.
        activity: (chunks, frames, local speakers) 0/1 activity.
        chunk_samples: Chunk length in samples.
        frame_step: Samples between consecutive frames.
        frame_length: Receptive field of one frame in samples.
    """

    chunk_starts: np.ndarray
    activity: np.ndarray
    chunk_samples: int
    frame_step: int
    frame_length: int

    def frame_centre(self, chunk: int, frames: np.ndarray) -> np.ndarray:
        """Sample at the centre of `frames` of `chunk`."""
        return self.chunk_starts[chunk] + frames * self.frame_step + self.frame_length // 2


class SegmentationModel:
    """A pyannote segmentation-3.0 style ONNX model on ONNX Runtime."""

    def __init__(
        self,
        path: str | Path,
        *,
        options: SegmentationOptions | None = None,
        device: str = "cpu",
        cpu_threads: int = 0,
    ) -> None:
        self.path = Path(path)
        self.options = options or SegmentationOptions()
        self._session = open_model(path, device=device, cpu_threads=cpu_threads)
        inputs = self._session.get_inputs()
        if len(inputs) != 1 or len(inputs[0].shape) != 3:
            raise ModelFormatError(
                f"{path}: a segmentation model needs one input [batch, 1, samples]; "
                f"found {[(i.name, i.shape) for i in inputs]}"
            )
        self._input = inputs[0].name
        samples = inputs[0].shape[2]
        self.chunk_samples = samples if isinstance(samples, int) else 160000
        probe = self._run(np.zeros((1, 1, self.chunk_samples), dtype=np.float32))
        frames, classes = probe.shape[1:]
        powerset_classes(classes)  # fails early on a model that is not powerset
        self.frames = frames
        self.frame_step, self.frame_length = _KNOWN_FRAMES.get(
            (self.chunk_samples, frames), (self.chunk_samples // frames,) * 2
        )

    def _run(self, batch: np.ndarray) -> np.ndarray:
        out = self._session.run(None, {self._input: batch})[0]
        if out.ndim != 3:
            raise ModelFormatError(f"{self.path}: expected [batch, frames, classes] output")
        return out

    def __call__(self, audio: np.ndarray) -> Segmentation:
        audio = np.asarray(audio, dtype=np.float32)
        size = self.chunk_samples
        step = max(1, round(size * self.options.step))
        last = max(0, len(audio) - size)
        starts = np.unique(np.r_[np.arange(0, last + 1, step), last]).astype(np.int64)
        padded = np.pad(audio, (0, max(0, size - len(audio))))
        outputs = []
        for i in range(0, len(starts), self.options.batch_size):
            batch = np.stack(
                [padded[s : s + size] for s in starts[i : i + self.options.batch_size]]
            )
            outputs.append(self._run(batch[:, None, :]))
        activity = powerset_to_multilabel(np.concatenate(outputs))
        # Frames past the end of short audio are padding, not speech.
        centres = np.arange(self.frames) * self.frame_step + self.frame_length // 2
        activity[:, centres >= len(audio), :] = 0.0
        return Segmentation(starts, activity, size, self.frame_step, self.frame_length)


def aggregate(
    segmentation: Segmentation, assignment: np.ndarray, num_clusters: int, num_samples: int
) -> tuple[np.ndarray, int]:
    """Global (frames, clusters) 0/1 activity on the model's frame grid, and its frame step.

    `assignment[c, s]` is the cluster of local speaker `s` in chunk `c` (-1: unassigned).
    Overlapping chunks vote: each global frame takes as many speakers as the chunks covering it
    see on average (rounded), choosing those with the most votes.
    """
    step = segmentation.frame_step
    total = max(1, int(np.ceil(num_samples / step)))
    votes = np.zeros((total, max(1, num_clusters)), dtype=np.float32)
    counts = np.zeros(total, dtype=np.float32)
    coverage = np.zeros(total, dtype=np.float32)
    frames = segmentation.activity.shape[1]
    for chunk, start in enumerate(segmentation.chunk_starts):
        index = (start + np.arange(frames) * step + segmentation.frame_length // 2) // step
        valid = index < total
        index = index[valid]
        active = segmentation.activity[chunk][valid]
        coverage[index] += 1.0
        counts[index] += active.sum(axis=1)
        for local, cluster in enumerate(assignment[chunk]):
            if cluster >= 0:
                votes[index, cluster] += active[:, local]
    speaking = np.rint(counts / np.maximum(coverage, 1.0)).astype(np.int64)
    ranked = np.argsort(-votes, axis=1, kind="stable")
    activity = np.zeros_like(votes)
    for k in range(int(speaking.max(initial=0))):
        rows = np.flatnonzero(speaking > k)
        chosen = ranked[rows, k]
        keep = votes[rows, chosen] > 0
        activity[rows[keep], chosen[keep]] = 1.0
    return activity[:, :num_clusters], step
