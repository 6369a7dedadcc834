"""Streaming decode of an opened audio track, with the length limit and the corruption rule.

Truncation, measured with FFmpeg 7 through PyAV 18 (see tests/test_audio.py):
- FLAC cut in half opens fine (STREAMINFO still declares 11.0 s), decodes 5.43 s, and the last
  partial frame raises one InvalidDataError.
- MP3 (with a Xing/Info header) and WebM also keep declaring the full length and decode the part
  that is present without any error; MP4 with its index first does the same with one error at
  the cut.
- WAV: FFmpeg clamps the declared length to what is in the file, so the RIFF `data` size is read
  here to tell that a WAV is cut.
- MP4/M4A with the index (`moov`) at the end fails to open, or opens with some tracks missing,
  when cut; the box structure is checked to report it as truncated rather than "not audio".
- Ogg computes its length from the last page, so a cut Ogg cannot be told from a short one.
- Corruption in the middle drops frames (the audio after it moves earlier): MP3 and AAC raise
  decoding errors; FLAC, Opus and WebM resync silently but lose audio.
So the rule is: the input is corrupt when packets fail to decode (unless what was decoded still
reaches the declared length, as with junk after the end), or when, without errors, the decoded
audio falls short of a reliably declared length by more than max(0.5 s, 2 %). Declared lengths
that FFmpeg only estimates from the bit rate are not trusted for this (see `probe`).
"""

from __future__ import annotations

import math
from typing import Any

import av
import numpy as np

from hark.audio.errors import (
    SUPPORTED_FORMATS,
    CorruptAudioError,
    EmptyAudioError,
    NotAudioError,
    too_long,
)
from hark.audio.frames import FrameConverter, GrowingBuffer
from hark.audio.headers import is_mp4
from hark.audio.probe import expected_duration, mp4_pipe_error
from hark.audio.sources import MediaInput

# Clean decodes of lossy codecs differ from the declared length by up to ~30 ms (priming,
# pre-skip); anything past these is audio that is missing.
_SHORTFALL_SECONDS = 0.5
_SHORTFALL_FRACTION = 0.02
_ERROR_SHORTFALL_SECONDS = 0.1
_ERROR_SHORTFALL_FRACTION = 0.005


def decode_stream(
    container: Any,
    stream: Any,
    inp: MediaInput,
    *,
    sample_rate: int,
    separate: bool,
    max_duration: float | None,
    declared: float | None,
    declared_exact: bool,
) -> np.ndarray:
    """Decode `stream` to float32 at `sample_rate`: mono, or one row per channel if `separate`.

    Stops with AudioTooLongError as soon as more than `max_duration` is decoded, and checks the
    result against the declared length (`declared`, trusted only when `declared_exact`).
    """
    max_samples = math.inf if max_duration is None else max_duration * sample_rate
    # Sized from the declared length (even an estimate); capped so a lying header costs nothing.
    guess = min(declared or 60.0, max_duration or math.inf, 3600.0) + 1.0
    buffer = GrowingBuffer(int(guess * sample_rate))
    converter: FrameConverter | None = None
    converter_input: tuple[str, str, int] | None = None
    out_layout = None if separate else "mono"
    decoded = 0.0  # seconds of source audio decoded
    errors = 0

    def take(frames: list[Any]) -> None:
        for out in frames:
            chunk = out.to_ndarray()
            if not np.isfinite(chunk).all():
                raise CorruptAudioError(
                    f"{inp.label} contains NaN or infinite samples; re-export the audio",
                    decoded_duration=decoded,
                    declared_duration=declared,
                )
            buffer.append(chunk)
        if buffer.length > max_samples:
            assert max_duration is not None
            raise too_long(inp.label, buffer.length / sample_rate, max_duration, exact=False)

    packets = container.demux(stream)
    while True:
        try:
            packet = next(packets)
        except StopIteration:
            break
        except av.FFmpegError:
            # The demuxer cannot go on; what was decoded so far is judged below.
            errors += 1
            break
        try:
            frames = packet.decode()
        except av.FFmpegError:
            errors += 1
            continue
        for frame in frames:
            decoded += frame.samples / frame.sample_rate
            key = (frame.format.name, frame.layout.name, frame.sample_rate)
            if key != converter_input:
                # Streams may change rate or layout midway; a graph only takes one input format.
                if converter is not None:
                    take(converter.convert(None))
                if out_layout is None:
                    out_layout = frame.layout.name  # keep the first layout for every row
                try:
                    converter = FrameConverter(frame, sample_rate, out_layout)
                    converted = converter.convert(frame)
                except (av.FFmpegError, ValueError) as e:
                    raise NotAudioError(
                        f"{inp.label} has audio in a layout FFmpeg cannot convert "
                        f"({frame.format.name}, {frame.layout.name}, {frame.sample_rate} Hz); "
                        f"convert it to {SUPPORTED_FORMATS}"
                    ) from e
                converter_input = key
            else:
                assert converter is not None
                converted = converter.convert(frame)
            take(converted)
    if converter is not None:
        # The resampler holds back a few samples of filter delay until flushed.
        take(converter.convert(None))

    expected = expected_duration(inp, declared if declared_exact else None)
    _check_complete(inp, buffer.length, decoded, expected, errors)
    return buffer.result(separate=separate)


def _check_complete(
    inp: MediaInput, samples: int, decoded: float, expected: float | None, errors: int
) -> None:
    """Apply the corruption rule (module docstring) to what was decoded."""
    of_declared = f" of the declared {expected:.1f} s" if expected else ""
    if samples == 0:
        if not inp.seekable and is_mp4(inp.head):
            raise mp4_pipe_error(inp)
        if errors or (expected is not None and expected > _ERROR_SHORTFALL_SECONDS):
            raise CorruptAudioError(
                f"{inp.label} is truncated or damaged: none{of_declared} of its audio could be "
                "decoded; re-export or re-upload the complete file",
                decoded_duration=0.0,
                declared_duration=expected,
            )
        raise EmptyAudioError(
            f"{inp.label} has an audio track with no samples in it; "
            "check that the recording captured sound"
        )
    shortfall = None if expected is None else expected - decoded
    if errors:
        tolerated = shortfall is not None and shortfall <= max(
            _ERROR_SHORTFALL_SECONDS, _ERROR_SHORTFALL_FRACTION * expected
        )
        if not tolerated:
            raise CorruptAudioError(
                f"{inp.label} is damaged or truncated: {errors} part(s) failed to decode and "
                f"only {decoded:.1f} s{of_declared} could be decoded; re-export or re-upload "
                "the complete file",
                decoded_duration=decoded,
                declared_duration=expected,
            )
    elif (
        shortfall is not None
        and expected is not None
        and shortfall > max(_SHORTFALL_SECONDS, _SHORTFALL_FRACTION * expected)
    ):
        raise CorruptAudioError(
            f"{inp.label} is truncated or damaged: only {decoded:.1f} s{of_declared} could be "
            "decoded; re-export or re-upload the complete file",
            decoded_duration=decoded,
            declared_duration=expected,
        )
