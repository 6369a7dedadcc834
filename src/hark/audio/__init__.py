"""Decode any audio or video input to 16 kHz float32 samples, with typed, clear errors.

`load_audio` accepts a path, bytes, a binary file-like object or an already-decoded numpy array
and returns float32 samples at `sample_rate` (16 kHz by default): mono 1-D for
`channels="mix"`, or `(channels, samples)` for `channels="separate"`. Anything FFmpeg (through
PyAV) can demux and decode works: WAV, FLAC, MP3, M4A/AAC, OGG/Opus, WebM, MP4 and other video
with an audio track. `probe` describes the audio track from the headers without decoding it.

Every problem with the input raises an `AudioError` subclass whose `code` is stable (the HTTP
layer maps codes to status codes) and whose message says what is wrong and what to do:

- `AudioNotFoundError` ("not_found"): a path that does not exist; also a `FileNotFoundError`.
- `EmptyAudioError` ("empty_audio"): zero bytes, or an audio track that decodes to no samples.
- `NotAudioError` ("not_audio"): cannot be opened as media, has no audio or video stream at
  all, or uses a codec this FFmpeg build cannot decode.
- `NoAudioStreamError` ("no_audio_stream"): media, typically video, without an audio track.
- `CorruptAudioError` ("corrupt_audio"): truncated or damaged; decoding errors, or far less
  audio than the file declares. Carries `decoded_duration` and `declared_duration`.
- `AudioTooLongError` ("audio_too_long"): longer than `max_duration`. Carries `duration`,
  `limit` and `exact`.
- `InvalidArrayError` ("invalid_array"): a numpy array that is not finite float samples of the
  expected shape (programming errors, never produced by decoding).

Modules, one concern each:
- `load`: `load_audio` and `SAMPLE_RATE`.
- `sources`: paths, bytes and file objects made ready for PyAV (`EncodedSource`, `AudioSource`).
- `probe`: opening media, finding the audio track, declared lengths (trusted vs estimated).
- `headers`: reading WAV, MP3 and MP4 headers and file signatures directly.
- `decode`: the streaming decode, the length limit and the corruption rule (how truncation
  looks per format is documented there).
- `frames`: FFmpeg resampling/downmix and the growing sample buffer.
- `arrays`: validating numpy input.
- `errors`: the `AudioError` classes.
"""

from hark.audio.errors import (
    AudioError,
    AudioNotFoundError,
    AudioTooLongError,
    CorruptAudioError,
    EmptyAudioError,
    InvalidArrayError,
    NoAudioStreamError,
    NotAudioError,
)
from hark.audio.load import SAMPLE_RATE, load_audio
from hark.audio.probe import AudioInfo, probe
from hark.audio.sources import AudioSource, EncodedSource

__all__ = [
    "SAMPLE_RATE",
    "AudioError",
    "AudioInfo",
    "AudioNotFoundError",
    "AudioSource",
    "AudioTooLongError",
    "CorruptAudioError",
    "EmptyAudioError",
    "EncodedSource",
    "InvalidArrayError",
    "NoAudioStreamError",
    "NotAudioError",
    "load_audio",
    "probe",
]
