"""Who spoke when: speech regions -> windows -> speaker embeddings -> clusters -> turns.

Without a segmentation model, speech regions come from Silero VAD and every region is covered
with sliding windows, one embedding each. With one, 10 s chunks are segmented into local
speakers (overlap included), each local speaker is embedded, and clustering ties them together
across chunks.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from hark.diarize.cluster import ClusteringOptions, centroids, cluster_embeddings
from hark.diarize.cluster import check_speaker_counts as _check_counts
from hark.diarize.embedding import SpeakerEmbedding
from hark.diarize.embedding_models import load_embedding_model
from hark.diarize.errors import DiarizationError
from hark.diarize.known import enrol_speakers, match_known_speakers
from hark.diarize.result import Diarization, SpeakerTurn
from hark.diarize.runtime import resolve_model_file
from hark.diarize.segmentation import (
    Segmentation,
    SegmentationModel,
    SegmentationOptions,
    aggregate,
)
from hark.diarize.speech import SpeechOptions, speech_regions
from hark.diarize.windows import plan_windows, region_turns

SAMPLE_RATE = 16000


@dataclass(frozen=True)
class DiarizeOptions:
    """Settings of `Diarizer`.

    Attributes:
        window: Embedding window in seconds (None: the embedding model's own, 1.6 s for GE2E).
        step: Seconds between consecutive windows; changes of speaker are placed midway
            between window centres, so this is also the resolution of turn boundaries.
        min_speech_per_speaker: Seconds of speech per speaker the estimated count may
            assume: 5 s of speech is taken for one speaker unless a count is given, since two
            windows' worth per voice is about what the embedding needs to tell voices apart.
        speech: VAD settings (diarization's own, see `hark.diarize.speech`).
        clustering: Clustering settings.
        known_speaker_threshold: Cosine similarity a cluster needs with an enrolled speaker to
            take its name (None: the embedding model's `match_threshold`).
        segmentation: Settings of the segmentation-model path.
    """

    window: float | None = None
    step: float = 0.5
    min_speech_per_speaker: float = 3.0
    speech: SpeechOptions = field(default_factory=SpeechOptions)
    clustering: ClusteringOptions = field(default_factory=ClusteringOptions)
    known_speaker_threshold: float | None = None
    segmentation: SegmentationOptions = field(default_factory=SegmentationOptions)


def speaker_label(index: int) -> str:
    return f"SPEAKER_{index:02d}"


class Diarizer:
    """Speaker diarization of 16 kHz mono audio; call it on an array."""

    def __init__(
        self,
        embedding: SpeakerEmbedding,
        segmentation: SegmentationModel | None = None,
        options: DiarizeOptions | None = None,
    ) -> None:
        self.embedding = embedding
        self.segmentation = segmentation
        self.options = options or DiarizeOptions()

    @classmethod
    def load(
        cls,
        embedding_model: str | None = None,
        segmentation_model: str | None = None,
        *,
        device: str = "cpu",
        cache_dir: str | Path | None = None,
        local_files_only: bool = False,
        cpu_threads: int = 0,
        options: DiarizeOptions | None = None,
    ) -> Diarizer:
        """Load the models.

        Args:
            embedding_model: None for the embedded GE2E encoder (offline, no download); else an
                ONNX model (WeSpeaker / 3D-Speaker interface) by path or Hugging Face id.
            segmentation_model: Optional pyannote segmentation-3.0 ONNX model, path or hub id.
            device: "cpu", "cuda" or "auto" for the ONNX models (GE2E runs in numpy).
            cache_dir: Hugging Face cache directory.
            local_files_only: Never download; hub ids must already be cached.
            cpu_threads: ONNX Runtime intra-op threads (0: its default).
            options: Pipeline settings.

        Raises:
            ModelNotFoundError: A model is missing (offline, or no such path or repository).
            ModelFormatError: A model does not have the expected interface.
        """
        options = options or DiarizeOptions()
        embedding = load_embedding_model(
            embedding_model,
            device=device,
            cache_dir=cache_dir,
            local_files_only=local_files_only,
            cpu_threads=cpu_threads,
        )
        segmentation = None
        if segmentation_model is not None:
            path = resolve_model_file(
                segmentation_model, cache_dir=cache_dir, local_files_only=local_files_only
            )
            segmentation = SegmentationModel(
                path, options=options.segmentation, device=device, cpu_threads=cpu_threads
            )
        return cls(embedding, segmentation, options)

    def __call__(
        self,
        audio: np.ndarray,
        *,
        num_speakers: int | None = None,
        min_speakers: int | None = None,
        max_speakers: int | None = None,
        known_speakers: Mapping[str, np.ndarray] | None = None,
        return_embeddings: bool = False,
    ) -> Diarization:
        """Diarize 16 kHz mono float32 `audio`.

        Args:
            num_speakers: Exact number of speakers, when known.
            min_speakers: Lower bound on the number of speakers.
            max_speakers: Upper bound on the number of speakers.
            known_speakers: Name -> 16 kHz mono reference sample; clusters that match a sample
                take its name, the others stay `SPEAKER_NN`.
            return_embeddings: Also return one embedding per speaker.

        Raises:
            SpeakerCountError: Invalid or contradictory speaker counts (a ValueError).
            DiarizationError: Audio that is not 1-D, or an unusable reference sample.
        """
        _check_counts(num_speakers, min_speakers, max_speakers)
        audio = np.asarray(audio, dtype=np.float32)
        if audio.ndim != 1:
            raise DiarizationError(
                f"diarization needs mono audio (1-D), got shape {audio.shape}; downmix it, or "
                "label speakers by channel with hark.diarize.channels"
            )
        enrolled = (
            enrol_speakers(known_speakers, self.embedding, self.options.speech)
            if known_speakers
            else {}
        )
        counts = {
            "num_speakers": num_speakers,
            "min_speakers": min_speakers,
            "max_speakers": max_speakers,
        }
        if self.segmentation is not None:
            turns, embeddings, labels = self._segmented(audio, counts)
        else:
            turns, embeddings, labels = self._windowed(audio, counts)
        return self._finish(turns, embeddings, labels, enrolled, return_embeddings)

    def _windowed(
        self, audio: np.ndarray, counts: dict[str, int | None]
    ) -> tuple[list[tuple[int, int, int]], np.ndarray, np.ndarray]:
        regions = speech_regions(audio, self.options.speech)
        length = round((self.options.window or self.embedding.window) * SAMPLE_RATE)
        windows = plan_windows(regions, length, max(1, round(self.options.step * SAMPLE_RATE)))
        embeddings = self.embedding.embed_windows(audio, windows.starts, length)
        speech = sum(end - start for start, end in regions) / SAMPLE_RATE
        labels = cluster_embeddings(
            embeddings,
            spans=windows.spans,
            max_estimate=max(1, int(speech // self.options.min_speech_per_speaker)),
            options=self.options.clustering,
            **counts,
        )
        return region_turns(regions, windows, labels), embeddings, labels

    def _segmented(
        self, audio: np.ndarray, counts: dict[str, int | None]
    ) -> tuple[list[tuple[int, int, int]], np.ndarray, np.ndarray]:
        assert self.segmentation is not None
        seg = self.segmentation(audio)
        chunks, _, local = seg.activity.shape
        keys: list[tuple[int, int]] = []
        vectors: list[np.ndarray] = []
        long_enough: list[bool] = []
        for chunk in range(chunks):
            for speaker in range(local):
                clip, seconds = _speaker_clip(audio, seg, chunk, speaker)
                if len(clip) < 2 * seg.frame_step:
                    continue
                keys.append((chunk, speaker))
                vectors.append(self.embedding.embed_clip(clip))
                long_enough.append(seconds >= self.options.segmentation.min_embedding_seconds)
        assignment = np.full((chunks, local), -1, dtype=np.int64)
        if not keys:
            return [], np.zeros((0, self.embedding.dim), np.float32), np.zeros(0, np.int64)
        embeddings = np.stack(vectors)
        chosen = np.flatnonzero(long_enough) if any(long_enough) else np.arange(len(keys))
        spans = np.array(
            [[seg.chunk_starts[c], seg.chunk_starts[c] + seg.chunk_samples] for c, _ in keys]
        )
        labels = cluster_embeddings(
            embeddings[chosen], spans=spans[chosen], options=self.options.clustering, **counts
        )
        centres = centroids(embeddings[chosen].astype(np.float64), labels)
        all_labels = _constrained_assignment(keys, embeddings, centres, assignment)
        activity, step = aggregate(seg, assignment, len(centres), len(audio))
        turns = []
        for cluster in range(activity.shape[1]):
            for lo, hi in _runs(activity[:, cluster]):
                turns.append((int(lo) * step, min(len(audio), int(hi) * step), cluster))
        turns.sort()
        return turns, embeddings, all_labels

    def _finish(
        self,
        turns: list[tuple[int, int, int]],
        embeddings: np.ndarray,
        labels: np.ndarray,
        enrolled: dict[str, np.ndarray],
        return_embeddings: bool,
    ) -> Diarization:
        valid = labels >= 0
        centres = (
            centroids(embeddings[valid].astype(np.float64), labels[valid])
            if valid.any()
            else np.zeros((0, self.embedding.dim))
        )
        threshold = self.options.known_speaker_threshold
        if threshold is None:
            threshold = self.embedding.match_threshold
        names = match_known_speakers(centres, enrolled, threshold)
        order = list(dict.fromkeys(cluster for _, _, cluster in sorted(turns)))
        label_of: dict[int, str] = {}
        for cluster in order:
            label_of[cluster] = names.get(cluster) or speaker_label(
                sum(1 for c in label_of if c not in names)
            )
        result = Diarization(
            turns=[
                SpeakerTurn(float(start) / SAMPLE_RATE, float(end) / SAMPLE_RATE, label_of[cluster])
                for start, end, cluster in sorted(turns)
            ]
        )
        if return_embeddings:
            result.embeddings = {
                label_of[c]: [float(x) for x in centres[c]] for c in order if c < len(centres)
            }
        return result


def _runs(active: np.ndarray) -> list[tuple[int, int]]:
    """[start, end) index ranges where `active` is non-zero."""
    edges = np.diff(np.r_[0, (active > 0).astype(np.int8), 0])
    return list(zip(np.flatnonzero(edges == 1), np.flatnonzero(edges == -1), strict=True))


def _speaker_clip(
    audio: np.ndarray, seg: Segmentation, chunk: int, speaker: int
) -> tuple[np.ndarray, float]:
    """Audio where a local speaker talks alone (or at all, if that is too short), and its
    duration in seconds."""
    activity = seg.activity[chunk]
    alone = (activity[:, speaker] > 0) & (activity.sum(axis=1) == 1)
    frames = alone if alone.sum() * seg.frame_step >= SAMPLE_RATE // 2 else activity[:, speaker] > 0
    pieces = []
    for lo, hi in _runs(frames.astype(np.float32)):
        start = int(seg.frame_centre(chunk, np.array([lo]))[0] - seg.frame_step // 2)
        end = int(seg.frame_centre(chunk, np.array([hi - 1]))[0] + seg.frame_step // 2)
        pieces.append(audio[max(0, start) : max(0, end)])
    clip = np.concatenate(pieces) if pieces else audio[:0]
    return clip, len(clip) / SAMPLE_RATE


def _constrained_assignment(
    keys: list[tuple[int, int]],
    embeddings: np.ndarray,
    centres: np.ndarray,
    assignment: np.ndarray,
) -> np.ndarray:
    """Give each embedded local speaker a cluster, distinct within its chunk (Hungarian)."""
    from scipy.optimize import linear_sum_assignment

    labels = np.full(len(keys), -1, dtype=np.int64)
    similarity = embeddings.astype(np.float64) @ centres.T
    by_chunk: dict[int, list[int]] = {}
    for index, (chunk, _) in enumerate(keys):
        by_chunk.setdefault(chunk, []).append(index)
    for chunk, members in by_chunk.items():
        rows, cols = linear_sum_assignment(similarity[members], maximize=True)
        best = {members[row]: int(col) for row, col in zip(rows, cols, strict=True)}
        for index in members:
            # More local speakers than clusters: the rest share their nearest cluster.
            labels[index] = best.get(index, int(np.argmax(similarity[index])))
            assignment[chunk, keys[index][1]] = labels[index]
    return labels
