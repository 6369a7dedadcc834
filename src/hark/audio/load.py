"""`load_audio`: any input to float32 samples at the pipeline's sample rate."""

from __future__ import annotations

from typing import Literal

import numpy as np

from hark.audio.arrays import validate_array
from hark.audio.decode import decode_stream
from hark.audio.errors import too_long
from hark.audio.probe import declared_duration, find_audio_stream, open_container
from hark.audio.sources import AudioSource, prepare_source

SAMPLE_RATE = 16000
"""The sample rate every model in the pipeline expects."""

Channels = Literal["mix", "separate"]

# The declared length may exceed the decoded one slightly (priming); the decode check is exact.
_DECLARED_LIMIT_SLACK = 0.1


def load_audio(
    source: AudioSource,
    *,
    sample_rate: int = SAMPLE_RATE,
    max_duration: float | None = None,
    channels: Channels = "mix",
) -> np.ndarray:
    """Decode `source` to float32 samples at `sample_rate`.

    `source`: a path (str or PathLike; never treated as a URL), encoded bytes, a binary file
    object (read from its current position, not closed; MP4 with its index at the end needs it
    seekable), or a numpy array of samples already at `sample_rate` (validated and returned as
    float32, without a copy when it already is C-contiguous float32).

    `channels="mix"` returns a 1-D mono array: stereo becomes (L + R) / 2, surround gets
    FFmpeg's normalised downmix. `"separate"` returns `(channels, samples)`, one row per channel
    of the file (a 1-D array input becomes one row).

    `max_duration` (seconds) rejects longer input: from the declared length before decoding when
    that is reliable, and otherwise by stopping as soon as the decoded audio passes it, so a huge
    file is never decoded into memory.

    Raises an `AudioError` subclass (see the `hark.audio` docstring) for every problem with the
    input; TypeError/ValueError for bad arguments; PermissionError for an unreadable path, and a
    file object's own I/O errors unchanged.
    """
    if channels not in ("mix", "separate"):
        raise ValueError(f"channels must be 'mix' or 'separate', not {channels!r}")
    if isinstance(sample_rate, bool) or not isinstance(sample_rate, int) or sample_rate <= 0:
        raise ValueError(f"sample_rate must be a positive int, not {sample_rate!r}")
    if max_duration is not None and not max_duration > 0:
        raise ValueError(f"max_duration must be positive or None, not {max_duration!r}")
    separate = channels == "separate"

    if isinstance(source, np.ndarray):
        return validate_array(source, sample_rate, max_duration, separate=separate)

    inp = prepare_source(source)
    with open_container(inp) as container:
        stream = find_audio_stream(container, inp)
        declared, exact = declared_duration(container, stream, inp)
        if (
            max_duration is not None
            and exact
            and declared is not None
            and declared > max_duration + _DECLARED_LIMIT_SLACK
        ):
            raise too_long(inp.label, declared, max_duration, exact=True)
        return decode_stream(
            container,
            stream,
            inp,
            sample_rate=sample_rate,
            separate=separate,
            max_duration=max_duration,
            declared=declared,
            declared_exact=exact,
        )
