"""Clustering of speaker embeddings: counts, constraints, labels."""

from __future__ import annotations

import numpy as np
import pytest

from hark.diarize.cluster import (
    ClusteringOptions,
    check_speaker_counts,
    cluster_embeddings,
    relabel_by_first_appearance,
)
from hark.diarize.errors import SpeakerCountError


def _speakers(
    sizes: list[int], *, spread: float = 0.35, dim: int = 32, seed: int = 0, turn: int = 5
) -> tuple[np.ndarray, np.ndarray]:
    """Unit vectors around one random direction per speaker, taking turns of `turn` windows."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(len(sizes), dim))
    truth = np.concatenate([np.full(n, i) for i, n in enumerate(sizes)])
    turns = np.concatenate([np.arange(n) // turn * len(sizes) + i for i, n in enumerate(sizes)])
    order = np.argsort(turns, kind="stable")
    truth = truth[order]
    points = centres[truth] / np.linalg.norm(centres[truth], axis=1, keepdims=True)
    points = points + rng.normal(scale=spread / np.sqrt(dim), size=points.shape)
    return points / np.linalg.norm(points, axis=1, keepdims=True), truth


def _agree(labels: np.ndarray, truth: np.ndarray) -> bool:
    pairs = {(int(a), int(b)) for a, b in zip(labels, truth, strict=True)}
    return len(pairs) == len(set(labels.tolist())) == len(set(truth.tolist()))


@pytest.mark.parametrize("count", [1, 2, 3, 5])
def test_finds_the_number_of_speakers(count: int) -> None:
    points, truth = _speakers([30] * count)
    labels = cluster_embeddings(points)
    assert labels.max() + 1 == count
    assert _agree(labels, truth)


def test_agglomerative_method_with_threshold() -> None:
    points, truth = _speakers([30, 30, 20])
    labels = cluster_embeddings(points, options=ClusteringOptions(method="agglomerative"))
    assert _agree(labels, truth)


def test_small_clusters_are_merged_in_agglomerative_mode() -> None:
    points, _ = _speakers([40, 40])
    outlier = -points[:1]  # one odd window, far from both speakers
    labels = cluster_embeddings(
        np.vstack([points, outlier]), options=ClusteringOptions(method="agglomerative")
    )
    assert labels.max() + 1 == 2


def test_num_speakers_is_honoured() -> None:
    points, _ = _speakers([30, 30])
    assert cluster_embeddings(points, num_speakers=3).max() + 1 == 3
    assert cluster_embeddings(points, num_speakers=1).max() + 1 == 1


def test_min_and_max_speakers_bound_the_estimate() -> None:
    two, _ = _speakers([30, 30])
    assert cluster_embeddings(two, min_speakers=3).max() + 1 == 3
    four, _ = _speakers([25] * 4)
    assert cluster_embeddings(four, max_speakers=2).max() + 1 == 2
    assert cluster_embeddings(four, min_speakers=2, max_speakers=6).max() + 1 == 4
    for method in ("spectral", "agglomerative"):
        options = ClusteringOptions(method=method)  # type: ignore[arg-type]
        assert cluster_embeddings(four, max_speakers=3, options=options).max() + 1 == 3


def test_labels_follow_first_appearance() -> None:
    assert relabel_by_first_appearance(np.array([4, 4, 1, 7, 1, 4])).tolist() == [
        0,
        0,
        1,
        2,
        1,
        0,
    ]
    points, _ = _speakers([30, 30, 30], seed=3)
    labels = cluster_embeddings(points)
    firsts = [int(np.flatnonzero(labels == k)[0]) for k in range(labels.max() + 1)]
    assert firsts == sorted(firsts)


def test_deterministic() -> None:
    points, _ = _speakers([30, 20, 25], spread=0.6)
    first = cluster_embeddings(points, num_speakers=3)
    np.testing.assert_array_equal(first, cluster_embeddings(points, num_speakers=3))


def test_overlapping_windows_are_not_neighbours() -> None:
    # 1.6 s windows every 0.25 s: near-duplicate neighbours must not glue speakers together.
    points, truth = _speakers([40, 40], spread=0.5)
    starts = np.arange(len(points)) * 0.25
    spans = np.stack([starts, starts + 1.6], axis=1)
    labels = cluster_embeddings(points, spans=spans)
    assert _agree(labels, truth)


def test_tiny_inputs() -> None:
    assert cluster_embeddings(np.zeros((0, 8))).tolist() == []
    one = np.eye(8)[:1]
    assert cluster_embeddings(one).tolist() == [0]
    assert cluster_embeddings(one, num_speakers=2).tolist() == [0]
    two = np.eye(8)[:2]
    assert cluster_embeddings(two, num_speakers=2).tolist() == [0, 1]


def test_long_inputs_are_pooled() -> None:
    points, truth = _speakers([300, 300], turn=30)
    labels = cluster_embeddings(points, options=ClusteringOptions(max_points=100))
    assert len(labels) == len(points)
    assert (labels == relabel_by_first_appearance(truth)).mean() > 0.9


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"min_speakers": 3, "max_speakers": 2}, "min_speakers .*max_speakers"),
        ({"num_speakers": 0}, "num_speakers"),
        ({"max_speakers": -1}, "max_speakers"),
        ({"min_speakers": 2.5}, "min_speakers"),
        ({"num_speakers": True}, "num_speakers"),
        ({"num_speakers": 2, "min_speakers": 3}, "num_speakers .*min_speakers"),
        ({"num_speakers": 4, "max_speakers": 3}, "num_speakers .*max_speakers"),
    ],
)
def test_invalid_speaker_counts(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(SpeakerCountError, match=message) as info:
        check_speaker_counts(**kwargs)  # type: ignore[arg-type]
    assert isinstance(info.value, ValueError)
    with pytest.raises(ValueError, match=message):
        cluster_embeddings(np.eye(4), **kwargs)  # type: ignore[arg-type]


def test_valid_speaker_counts() -> None:
    assert check_speaker_counts() == (None, 1, None)
    assert check_speaker_counts(num_speakers=2) == (2, 2, 2)
    assert check_speaker_counts(min_speakers=2, max_speakers=2) == (2, 2, 2)
    assert check_speaker_counts(num_speakers=2, min_speakers=1, max_speakers=3) == (2, 2, 2)
    assert check_speaker_counts(min_speakers=2) == (None, 2, None)


def test_large_inputs_use_the_sparse_solver_with_the_same_result() -> None:
    from hark.diarize.cluster import SPARSE_FROM

    points, truth = _speakers([SPARSE_FROM // 2 + 20] * 2, turn=25)
    assert len(points) > SPARSE_FROM
    assert _agree(cluster_embeddings(points), truth)
    assert _agree(cluster_embeddings(points, num_speakers=2), truth)
