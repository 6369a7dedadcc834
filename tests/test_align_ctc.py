"""CTC forced alignment (hark.align.ctc) on synthetic emissions with known best paths, and
against brute-force references on small random emissions."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from hark.align.ctc import forced_align, token_spans, with_wildcard
from hark.align.text import WILDCARD

BLANK = 0


def emissions(frames: list[int], columns: int, peak: float = 0.9) -> np.ndarray:
    """Log-probs where frame t puts `peak` on column frames[t] and shares the rest."""
    probs = np.full((len(frames), columns), (1 - peak) / (columns - 1))
    probs[np.arange(len(frames)), frames] = peak
    return np.log(probs)


def path_score(log_probs: np.ndarray, path: np.ndarray, tokens: np.ndarray) -> float:
    cols = np.where(path >= 0, tokens[np.maximum(path, 0)], BLANK)
    return float(log_probs[np.arange(path.size), cols].sum())


def is_valid(path: np.ndarray, tokens: np.ndarray, optional: np.ndarray, wildcard: int | None):
    """A path visits tokens in order, each for one contiguous run, skipping only optional
    tokens, with a blank between equal neighbours (except wildcards)."""
    runs = [k for k, _ in itertools.groupby(path.tolist())]
    visited = [k for k in runs if k >= 0]
    if visited != sorted(set(visited)):
        return False
    skipped = set(range(tokens.size)) - set(visited)
    if any(not optional[i] for i in skipped):
        return False
    for a, b in itertools.pairwise(runs):
        if a >= 0 and b >= 0 and tokens[a] == tokens[b] and tokens[a] != wildcard:
            return False
    return True


# --- known paths ------------------------------------------------------------------------------


def test_exact_frame_boundaries() -> None:
    c, a, t = 1, 2, 3
    frames = [BLANK, BLANK, c, c, BLANK, a, a, a, t, BLANK]
    tokens = np.array([c, a, t])
    lp = emissions(frames, 5)
    path = forced_align(lp, tokens, blank=BLANK)
    assert path is not None
    assert path.tolist() == [-1, -1, 0, 0, -1, 1, 1, 1, 2, -1]
    spans = token_spans(path, lp, tokens)
    assert spans.start.tolist() == [2, 5, 8]
    assert spans.end.tolist() == [4, 8, 9]
    np.testing.assert_allclose(spans.score, 0.9)


def test_repeated_characters_need_a_blank_between() -> None:
    h, e, l, o = 1, 2, 3, 4  # noqa: E741
    tokens = np.array([h, e, l, l, o])
    # The model emits "l" on frames 3-6 without a blank: the path must still split the run.
    lp = emissions([h, e, BLANK, l, l, l, l, o], 5)
    path = forced_align(lp, tokens, blank=BLANK)
    assert path is not None
    assert is_valid(path, tokens, np.zeros(5, bool), None)
    runs = [k for k, _ in itertools.groupby(path.tolist())]
    assert runs[runs.index(2) + 1] == -1  # l, blank, l
    # With a blank frame between the two l's, they land exactly on their frames.
    lp = emissions([h, e, l, l, BLANK, l, o, BLANK], 5)
    path = forced_align(lp, tokens, blank=BLANK)
    assert path is not None and path.tolist() == [0, 1, 2, 2, -1, 3, 4, -1]


def test_wildcards_take_frames_of_letters_not_in_the_text() -> None:
    a, b, x, y = 1, 2, 3, 4
    letters = np.array([a, b, x, y])
    tokens = np.array([a, WILDCARD, WILDCARD, b])
    frames = [a, BLANK, x, y, y, x, BLANK, b]
    lp, resolved, wildcard = with_wildcard(emissions(frames, 5), tokens, letters)
    assert wildcard == 5 and lp.shape == (8, 6) and resolved.tolist() == [a, 5, 5, b]
    path = forced_align(lp, resolved, blank=BLANK, wildcard=wildcard)
    assert path is not None
    assert path[0] == 0 and path[-1] == 3
    # Two wildcards in a row need no blank between them; they share frames 2-5.
    assert set(path[2:6].tolist()) == {1, 2}
    assert is_valid(path, resolved, np.zeros(4, bool), wildcard)


def test_wildcard_ignores_blank_and_delimiter_columns() -> None:
    lp = np.log(np.array([[0.7, 0.1, 0.2], [0.1, 0.6, 0.3]]))
    out, _, column = with_wildcard(lp, np.array([WILDCARD]), np.array([2]))
    assert column == 3
    np.testing.assert_allclose(out[:, 3], np.log([0.2, 0.3]))


def test_optional_delimiter_may_be_skipped() -> None:
    a, b, bar = 1, 2, 3
    tokens = np.array([a, bar, b])
    optional = np.array([False, True, False])
    path = forced_align(emissions([a, a, BLANK, b, b], 4), tokens, blank=BLANK, optional=optional)
    assert path is not None and path.tolist() == [0, 0, -1, 2, 2]
    path = forced_align(emissions([a, bar, b], 4), tokens, blank=BLANK, optional=optional)
    assert path is not None and path.tolist() == [0, 1, 2]
    # Mandatory, the delimiter must take a frame even where the model did not emit it.
    path = forced_align(emissions([a, a, BLANK, b, b], 4), tokens, blank=BLANK)
    assert path is not None and 1 in path.tolist()


def test_empty_and_single_token() -> None:
    lp = emissions([BLANK, 1, BLANK], 3)
    assert forced_align(lp, np.array([], dtype=np.int64), blank=BLANK).tolist() == [-1, -1, -1]
    path = forced_align(lp, np.array([1]), blank=BLANK)
    assert path is not None and path.tolist() == [-1, 0, -1]
    one = forced_align(emissions([1], 3), np.array([1]), blank=BLANK)
    assert one is not None and one.tolist() == [0]


def test_more_tokens_than_frames_is_none() -> None:
    lp = emissions([1, 2, 1], 3)
    assert forced_align(lp, np.array([1, 2, 1, 2]), blank=BLANK) is None
    # Repeats need a blank frame between them: 3 frames cannot hold "1 1".
    assert forced_align(emissions([1, 1], 3), np.array([1, 1]), blank=BLANK) is None
    assert forced_align(np.zeros((0, 3)), np.array([1]), blank=BLANK) is None


# --- brute force ------------------------------------------------------------------------------


def collapse(labels: tuple[int, ...]) -> tuple[int, ...]:
    return tuple(k for k, _ in itertools.groupby(labels) if k != BLANK)


def exhaustive_best(lp: np.ndarray, targets: set[tuple[int, ...]]) -> float:
    """Best score over every label sequence that collapses to one of `targets`."""
    frames, columns = lp.shape
    seqs = np.array(list(itertools.product(range(columns), repeat=frames)))
    scores = lp[np.arange(frames), seqs].sum(axis=1)
    best = -np.inf
    for seq, score in zip(seqs, scores, strict=True):
        if score > best and collapse(tuple(seq)) in targets:
            best = score
    return float(best)


def with_optional_removed(tokens: list[int], optional: list[bool]) -> set[tuple[int, ...]]:
    choices = [((t,), ()) if opt else ((t,),) for t, opt in zip(tokens, optional, strict=True)]
    return {tuple(x for part in combo for x in part) for combo in itertools.product(*choices)}


@pytest.mark.parametrize("seed", range(12))
def test_matches_exhaustive_search(seed: int) -> None:
    rng = np.random.default_rng(seed)
    frames = int(rng.integers(3, 8))
    lp = np.log(rng.dirichlet(np.ones(4), size=frames))
    n = int(rng.integers(1, 4))
    tokens = rng.integers(1, 3, size=n).tolist()  # letters 1, 2 (repeats likely)
    optional = [False] * n
    if n >= 2 and seed % 2:  # a delimiter (column 3) between the first two letters
        tokens.insert(1, 3)
        optional.insert(1, True)
    targets = with_optional_removed(tokens, optional)
    best = exhaustive_best(lp, targets)
    path = forced_align(lp, np.array(tokens), blank=BLANK, optional=np.array(optional))
    if not np.isfinite(best):
        assert path is None
        return
    assert path is not None
    assert is_valid(path, np.array(tokens), np.array(optional), None)
    assert path_score(lp, path, np.array(tokens)) == pytest.approx(best)


def reference_dp(lp, tokens, optional, wildcard) -> float:
    """Plain-Python Viterbi over the extended state sequence, transitions spelled out."""
    n = len(tokens)
    labels = [BLANK if s % 2 == 0 else tokens[s // 2] for s in range(2 * n + 1)]

    def is_token(s: int) -> bool:
        return s % 2 == 1

    def same(i: int, j: int) -> bool:
        return tokens[i] == tokens[j] and tokens[i] != wildcard

    def allowed(p: int, s: int) -> bool:
        if p == s or p == s - 1:
            return True
        if p == s - 2:
            if is_token(s):
                return s >= 3 and not same(s // 2, s // 2 - 1)
            return optional[(s - 1) // 2]
        if p == s - 3 and is_token(s):
            return optional[s // 2 - 1]
        if p == s - 4 and is_token(s) and s // 2 >= 2:
            return optional[s // 2 - 1] and not same(s // 2, s // 2 - 2)
        return False

    size = 2 * n + 1
    score = [-np.inf] * size
    score[0] = lp[0, labels[0]]
    score[1] = lp[0, labels[1]]
    for t in range(1, lp.shape[0]):
        score = [
            max((score[p] for p in range(max(s - 4, 0), s + 1) if allowed(p, s)), default=-np.inf)
            + lp[t, labels[s]]
            for s in range(size)
        ]
    return max(score[-1], score[-2])


@pytest.mark.parametrize("seed", range(30))
def test_matches_reference_dp_with_wildcards_and_delimiters(seed: int) -> None:
    rng = np.random.default_rng(100 + seed)
    letters = np.array([1, 2, 3, 4])
    delimiter = 5
    frames = int(rng.integers(1, 40))
    lp = np.log(rng.dirichlet(np.ones(6) * 0.5, size=frames))
    tokens: list[int] = []
    optional: list[bool] = []
    for w in range(int(rng.integers(1, 5))):
        if w:
            tokens.append(delimiter)
            optional.append(True)
        for _ in range(int(rng.integers(1, 4))):
            tokens.append(int(rng.choice([1, 2, 3, WILDCARD])))
            optional.append(False)
    lp, resolved, wildcard = with_wildcard(lp, np.array(tokens), letters)
    expected = reference_dp(lp, resolved.tolist(), optional, wildcard)
    path = forced_align(lp, resolved, blank=BLANK, optional=np.array(optional), wildcard=wildcard)
    if not np.isfinite(expected):
        assert path is None
        return
    assert path is not None
    assert is_valid(path, resolved, np.array(optional), wildcard)
    assert path_score(lp, path, resolved) == pytest.approx(expected)


def test_speed_of_a_long_trellis() -> None:
    """30 s of frames x 600 tokens: one vectorised step per frame keeps this well under 1 s."""
    import time

    rng = np.random.default_rng(0)
    lp = np.log(rng.dirichlet(np.ones(32) * 0.3, size=1500)).astype(np.float32)
    tokens = rng.integers(1, 32, size=600)
    start = time.perf_counter()
    path = forced_align(lp, tokens, blank=BLANK, optional=rng.random(600) < 0.2)
    assert path is not None
    assert time.perf_counter() - start < 2.0
