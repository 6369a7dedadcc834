"""CTC forced alignment: the best path of a token sequence through frame log-probabilities.

The standard CTC topology (as `torchaudio.functional.forced_align`): states alternate blank and
token, `[blank, t0, blank, t1, ..., blank]`; a state is kept (its own emission), left to the next
state, or the blank between two tokens is skipped unless both tokens are the same. Two
extensions: wildcard tokens never merge with a neighbouring wildcard (a digit run is several
wildcards with no blank needed between them), and *optional* tokens (word delimiters) may be
skipped entirely. Viterbi runs one vectorised numpy step per frame over all states; the
backpointers are one int8 per (frame, state), so callers bound memory by bounding frames x tokens.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from hark.align.text import WILDCARD

_NEG_INF = -np.inf


def with_wildcard(
    log_probs: np.ndarray, tokens: np.ndarray, letter_ids: np.ndarray
) -> tuple[np.ndarray, np.ndarray, int | None]:
    """Give `WILDCARD` tokens a real column: per frame, the best letter's log-probability.

    Returns (log_probs, tokens, wildcard column or None). Blank and delimiter are left out of
    the maximum, or a wildcard would soak up pauses and word boundaries.
    """
    wild = tokens == WILDCARD
    if not wild.any():
        return log_probs, tokens, None
    if letter_ids.size:
        column = log_probs[:, letter_ids].max(axis=1, keepdims=True)
    else:
        column = np.full((log_probs.shape[0], 1), _NEG_INF, dtype=log_probs.dtype)
    wildcard = log_probs.shape[1]
    return np.concatenate([log_probs, column], axis=1), np.where(wild, wildcard, tokens), wildcard


def _transitions(
    tokens: np.ndarray, optional: np.ndarray, wildcard: int | None
) -> tuple[np.ndarray, ...]:
    """Additive penalties (0 or -inf) per state for jumps of 2, 3 and 4 states back."""
    n = tokens.size
    size = 2 * n + 1
    jump2 = np.full(size, _NEG_INF)
    jump3 = np.full(size, _NEG_INF)
    jump4 = np.full(size, _NEG_INF)
    is_wild = tokens == wildcard if wildcard is not None else np.zeros(n, dtype=bool)
    j = np.arange(1, n)
    # token j <- token j-1 over the blank between them, unless they would merge.
    distinct = (tokens[1:] != tokens[:-1]) | is_wild[1:]
    jump2[2 * j + 1] = np.where(distinct, 0.0, _NEG_INF)
    # blank after optional token i <- blank before it (the optional token is skipped).
    i = np.arange(n)
    jump2[2 * i + 2] = np.where(optional, 0.0, _NEG_INF)
    # token j <- blank before optional token j-1 / token j-2 (skipping j-1 and its blanks).
    jump3[2 * j + 1] = np.where(optional[:-1], 0.0, _NEG_INF)
    if n > 2:
        j2 = np.arange(2, n)
        ok = optional[j2 - 1] & ((tokens[j2] != tokens[j2 - 2]) | is_wild[j2])
        jump4[2 * j2 + 1] = np.where(ok, 0.0, _NEG_INF)
    return jump2, jump3, jump4


def forced_align(
    log_probs: np.ndarray,
    tokens: np.ndarray,
    *,
    blank: int,
    optional: np.ndarray | None = None,
    wildcard: int | None = None,
) -> np.ndarray | None:
    """Best path of `tokens` through `log_probs` [frames, columns].

    Returns, for each frame, the index into `tokens` it emits, or -1 for blank; None when no
    path exists (more tokens than frames can hold). `optional[i]` lets token i be skipped;
    tokens equal to `wildcard` never merge with an identical neighbour.
    """
    frames = log_probs.shape[0]
    n = int(tokens.size)
    if n == 0:
        return np.full(frames, -1, dtype=np.int64)
    if frames == 0:
        return None
    optional = np.zeros(n, dtype=bool) if optional is None else optional.astype(bool)
    size = 2 * n + 1
    labels = np.full(size, blank, dtype=np.int64)
    labels[1::2] = tokens
    jump2, jump3, jump4 = _transitions(tokens, optional, wildcard)
    rows = 5 if optional.any() else 3
    emissions = log_probs.astype(np.float64, copy=False)

    alpha = np.full(size, _NEG_INF)
    alpha[:2] = emissions[0, labels[:2]]
    back = np.zeros((frames, size), dtype=np.int8)
    candidates = np.full((rows, size), _NEG_INF)
    states = np.arange(size)
    for t in range(1, frames):
        candidates[0] = alpha
        candidates[1, 1:] = alpha[:-1]
        np.add(alpha[:-2], jump2[2:], out=candidates[2, 2:])
        if rows == 5:
            np.add(alpha[:-3], jump3[3:], out=candidates[3, 3:])
            np.add(alpha[:-4], jump4[4:], out=candidates[4, 4:])
        step = candidates.argmax(axis=0)
        back[t] = step
        alpha = candidates[step, states] + emissions[t, labels]

    end = size - 1 if size == 1 or alpha[-1] >= alpha[-2] else size - 2
    if not np.isfinite(alpha[end]):
        return None
    path = np.empty(frames, dtype=np.int64)
    state = end
    for t in range(frames - 1, -1, -1):
        path[t] = state
        state -= int(back[t, state])
    return np.where(path % 2 == 1, (path - 1) // 2, -1)


@dataclass(frozen=True)
class TokenSpans:
    """Frames of each token on a path: [start, end), -1 where the path skipped the token."""

    start: np.ndarray
    end: np.ndarray
    score: np.ndarray
    """Mean probability of the token over its frames; NaN where skipped."""


def token_spans(path: np.ndarray, log_probs: np.ndarray, tokens: np.ndarray) -> TokenSpans:
    """Where each token of `tokens` sits on `path` (from `forced_align`), and how sure."""
    n = tokens.size
    frames = np.flatnonzero(path >= 0)
    index = path[frames]
    start = np.full(n, -1, dtype=np.int64)
    end = np.full(n, -1, dtype=np.int64)
    # Fancy assignment keeps the last write: reversed order leaves the first frame of each run.
    start[index[::-1]] = frames[::-1]
    end[index] = frames + 1
    probs = np.exp(log_probs[frames, tokens[index]].astype(np.float64))
    counts = np.bincount(index, minlength=n)
    sums = np.bincount(index, weights=probs, minlength=n)
    with np.errstate(invalid="ignore", divide="ignore"):
        score = np.where(counts > 0, sums / np.maximum(counts, 1), np.nan)
    return TokenSpans(start=start, end=end, score=score)
