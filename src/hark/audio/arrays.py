"""Audio passed as a numpy array: checked to be finite float samples of the right shape."""

from __future__ import annotations

import numpy as np

from hark.audio.errors import EmptyAudioError, InvalidArrayError, too_long


def validate_array(
    samples: np.ndarray, sample_rate: int, max_duration: float | None, *, separate: bool
) -> np.ndarray:
    """`samples` as C-contiguous float32 (no copy when it already is), 2-D when `separate`.

    Raises InvalidArrayError, EmptyAudioError or AudioTooLongError for unusable samples.
    """
    if not np.issubdtype(samples.dtype, np.floating):
        hint = (
            "; scale integer PCM first, e.g. x.astype(np.float32) / 32768"
            if np.issubdtype(samples.dtype, np.integer)
            else ""
        )
        raise InvalidArrayError(
            f"an audio array must hold float samples, got dtype {samples.dtype}{hint}"
        )
    if not separate and samples.ndim != 1:
        raise InvalidArrayError(
            f"an audio array must be 1-D mono samples at {sample_rate} Hz, got shape "
            f"{samples.shape}; mix channels first (x.mean(axis=0)) or use channels='separate'"
        )
    if separate and samples.ndim not in (1, 2):
        raise InvalidArrayError(
            f"an audio array for channels='separate' must be 1-D or (channels, samples), got "
            f"shape {samples.shape}"
        )
    if samples.size == 0:
        raise EmptyAudioError("the audio array is empty; pass at least one sample")
    if not np.isfinite(samples).all():
        raise InvalidArrayError("the audio array contains NaN or infinite samples")
    duration = samples.shape[-1] / sample_rate
    if max_duration is not None and duration > max_duration:
        raise too_long("the audio array", duration, max_duration, exact=True)
    out = np.ascontiguousarray(samples, dtype=np.float32)
    return out.reshape(1, -1) if separate and out.ndim == 1 else out
