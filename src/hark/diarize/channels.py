"""Speakers by channel, for recordings with one speaker per channel (call centres, interviews).

An alternative to clustering: each channel is one speaker. Either transcribe every channel on
its own and merge the transcripts (`merge_channel_transcripts`), or keep one transcript of the
downmix and label it from per-channel speech activity (`diarize_channels` + `assign_speakers`).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from hark.diarize.errors import DiarizationError
from hark.diarize.result import Diarization, SpeakerTurn
from hark.diarize.speech import SAMPLE_RATE, SpeechOptions, speech_regions
from hark.schema import Transcript


def channel_labels(count: int, names: Sequence[str] | None = None) -> list[str]:
    """Speaker label of each channel: the given names, else SPEAKER_00, SPEAKER_01, ..."""
    if names is not None:
        if len(names) != count:
            raise DiarizationError(f"{len(names)} channel names given for {count} channels")
        return [str(n) for n in names]
    return [f"SPEAKER_{i:02d}" for i in range(count)]


def diarize_channels(
    audio: np.ndarray,
    *,
    names: Sequence[str] | None = None,
    speech: SpeechOptions | None = None,
) -> Diarization:
    """Turns from each channel's own speech (VAD), labelled by channel.

    Args:
        audio: (channels, samples) at 16 kHz.
        names: One label per channel (default SPEAKER_00, SPEAKER_01, ...).
        speech: VAD settings.

    Turns of different channels may overlap: people talk over each other on a call.
    """
    audio = np.asarray(audio, dtype=np.float32)
    if audio.ndim != 2:
        raise DiarizationError(f"expected (channels, samples) audio, got shape {audio.shape}")
    labels = channel_labels(audio.shape[0], names)
    turns = [
        SpeakerTurn(start / SAMPLE_RATE, end / SAMPLE_RATE, label)
        for channel, label in zip(audio, labels, strict=True)
        for start, end in speech_regions(channel, speech)
    ]
    turns.sort(key=lambda t: (t.start, t.end))
    return Diarization(turns=turns)


def merge_channel_transcripts(
    transcripts: Sequence[Transcript], names: Sequence[str] | None = None
) -> Transcript:
    """One transcript from per-channel transcripts: every segment and word takes its channel's
    label, segments are interleaved by start time (ties keep channel order)."""
    if not transcripts:
        return Transcript()
    labels = channel_labels(len(transcripts), names)
    segments = [
        segment.model_copy(
            update={
                "speaker": label,
                "words": [w.model_copy(update={"speaker": label}) for w in segment.words],
            }
        )
        for transcript, label in zip(transcripts, labels, strict=True)
        for segment in transcript.segments
    ]
    segments.sort(key=lambda s: s.start)
    words = any(s.words for s in segments)
    first = transcripts[0]
    return first.model_copy(
        update={
            "segments": segments,
            "duration": max(t.duration for t in transcripts),
            "alignment": next((t.alignment for t in transcripts if t.alignment), None)
            if words
            else None,
        }
    )
