"""Sliding embedding windows over speech regions, and turns back from labelled windows."""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Windows:
    """Embedding windows: start samples, their common length, and the region each belongs to."""

    starts: np.ndarray
    length: int
    region: np.ndarray

    @property
    def spans(self) -> np.ndarray:
        return np.stack([self.starts, self.starts + self.length], axis=1)

    @property
    def centres(self) -> np.ndarray:
        return self.starts + self.length / 2


def plan_windows(regions: list[tuple[int, int]], length: int, step: int) -> Windows:
    """Windows of `length` samples every ~`step` samples inside each region.

    A region shorter than a window gets one window centred on it (reaching into the audio
    around it); a longer one is covered end to end with evenly spread windows.
    """
    starts: list[np.ndarray] = []
    owner: list[np.ndarray] = []
    for index, (start, end) in enumerate(regions):
        if end - start <= length:
            placed = np.array([(start + end) // 2 - length // 2])
        else:
            count = int(np.ceil((end - start - length) / step)) + 1
            placed = np.linspace(start, end - length, count).round().astype(np.int64)
        starts.append(np.maximum(placed, 0))
        owner.append(np.full(len(placed), index))
    if not starts:
        return Windows(np.zeros(0, np.int64), length, np.zeros(0, np.int64))
    return Windows(np.concatenate(starts).astype(np.int64), length, np.concatenate(owner))


def region_turns(
    regions: list[tuple[int, int]], windows: Windows, labels: np.ndarray
) -> list[tuple[int, int, int]]:
    """(start, end, label) sample ranges: each instant of a region takes the label of the
    window whose centre is nearest, so changes fall midway between window centres."""
    out: list[tuple[int, int, int]] = []
    centres = windows.centres
    for index, (start, end) in enumerate(regions):
        members = np.flatnonzero(windows.region == index)
        if len(members) == 0:
            continue
        cuts = [start]
        kinds = [int(labels[members[0]])]
        for a, b in itertools.pairwise(members):
            if labels[a] != labels[b]:
                cuts.append(int(centres[a] + centres[b]) // 2)
                kinds.append(int(labels[b]))
        cuts.append(end)
        for i, label in enumerate(kinds):
            lo, hi = max(start, cuts[i]), min(end, cuts[i + 1])
            if hi > lo:
                out.append((lo, hi, label))
    return out
