"""hark.audio: decoding real audio in many containers, and typed errors for bad input.

Other containers are encoded at test time with PyAV from the shared recordings, so every test
runs offline from ../shared/audio.
"""

from __future__ import annotations

import io
import pickle
import struct
import time
from collections.abc import Callable
from pathlib import Path

import av
import numpy as np
import pytest

from hark.audio import (
    SAMPLE_RATE,
    AudioError,
    AudioInfo,
    AudioNotFoundError,
    AudioTooLongError,
    CorruptAudioError,
    EmptyAudioError,
    InvalidArrayError,
    NoAudioStreamError,
    NotAudioError,
    load_audio,
    probe,
)

JFK_SECONDS = 11.0
MP4_FORMAT = "mov,mp4,m4a,3gp,3g2,mj2"


# --------------------------------------------------------------------------- helpers


def _decode_native(path: Path) -> tuple[np.ndarray, int]:
    """(channels, samples) float32 at the file's own rate, straight from PyAV."""
    with av.open(str(path)) as container:
        stream = container.streams.audio[0]
        resampler = av.AudioResampler(format="fltp", layout=stream.layout.name, rate=stream.rate)
        chunks = [
            out.to_ndarray()
            for frame in container.decode(stream)
            for out in resampler.resample(frame)
        ]
        chunks += [out.to_ndarray() for out in resampler.resample(None)]
        return np.concatenate(chunks, axis=1), stream.rate


def _encode(
    path: Path,
    samples: np.ndarray,
    rate: int,
    *,
    container_format: str,
    codec: str | None,
    codec_rate: int,
    video: str | None = None,
    video_seconds: float | None = None,
) -> Path:
    """Encode (channels, samples) float32 into `path`, optionally with a small video track."""
    layout = "mono" if samples.shape[0] == 1 else "stereo"
    with av.open(str(path), "w", format=container_format) as out:
        vstream = None
        if video is not None:
            vstream = out.add_stream(video, rate=25)
            vstream.width, vstream.height, vstream.pix_fmt = 64, 48, "yuv420p"
        if codec is not None:
            astream = out.add_stream(codec, rate=codec_rate, layout="mono")
            ctx = astream.codec_context
            resampler = av.AudioResampler(
                format=ctx.format.name, layout="mono", rate=codec_rate, frame_size=ctx.frame_size
            )
            for start in range(0, samples.shape[1], 8192):
                block = np.ascontiguousarray(samples[:, start : start + 8192])
                frame = av.AudioFrame.from_ndarray(block, format="fltp", layout=layout)
                frame.sample_rate = rate
                for converted in resampler.resample(frame):
                    out.mux(astream.encode(converted))
            for converted in resampler.resample(None):
                out.mux(astream.encode(converted))
            out.mux(astream.encode(None))
        if vstream is not None:
            seconds = video_seconds if video_seconds is not None else samples.shape[1] / rate
            for i in range(int(seconds * 25)):
                image = np.full((48, 64, 3), (i * 7) % 256, np.uint8)
                image[:, : (i % 64)] = 255 - image[:, : (i % 64)]
                out.mux(vstream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")))
            out.mux(vstream.encode(None))
    return path


def _wav_bytes(
    samples: np.ndarray,
    rate: int,
    *,
    channels: int = 1,
    data_size: int | None = None,
    float32: bool = False,
) -> bytes:
    """A canonical 44-byte-header WAV; `data_size` overrides what the header declares."""
    data = samples.astype("<f4" if float32 else "<i2").tobytes()
    width = 4 if float32 else 2
    declared = len(data) if data_size is None else data_size
    header = b"RIFF" + struct.pack("<I", min(36 + declared, 0xFFFFFFFF)) + b"WAVE"
    header += b"fmt " + struct.pack(
        "<IHHIIHH",
        16,
        3 if float32 else 1,
        channels,
        rate,
        rate * channels * width,
        channels * width,
        width * 8,
    )
    header += b"data" + struct.pack("<I", declared)
    return header + data


def _envelope(x: np.ndarray, rate: int, window: float = 0.02) -> np.ndarray:
    n = int(rate * window)
    frames = x[: len(x) // n * n].reshape(-1, n)
    return np.sqrt((frames.astype(np.float64) ** 2).mean(axis=1))


def _envelope_correlation(a: np.ndarray, b: np.ndarray, rate: int, max_lag: int = 3) -> float:
    """Best correlation of 20 ms RMS envelopes within ±max_lag windows (codec delays)."""
    ea, eb = _envelope(a, rate), _envelope(b, rate)
    best = -1.0
    for lag in range(-max_lag, max_lag + 1):
        x, y = (ea[lag:], eb) if lag >= 0 else (ea, eb[-lag:])
        n = min(len(x), len(y))
        best = max(best, float(np.corrcoef(x[:n], y[:n])[0, 1]))
    return best


class _Unseekable(io.RawIOBase):
    """A pipe-like binary stream: read() only, counting what was consumed."""

    def __init__(self, data: bytes) -> None:
        super().__init__()
        self._data = io.BytesIO(data)

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        chunk = self._data.read(len(buffer))
        buffer[: len(chunk)] = chunk
        return len(chunk)


class _EndlessWav(io.RawIOBase):
    """A streamed WAV (placeholder data size) producing `seconds` of tone on demand."""

    def __init__(self, seconds: float, rate: int = 16000) -> None:
        super().__init__()
        header = _wav_bytes(np.zeros(0), rate, data_size=0xFFFFFFFF)
        self._pending = header
        self._left = int(seconds * rate) * 2
        t = np.arange(rate) / rate
        self._second = (np.sin(2 * np.pi * 220 * t) * 8000).astype("<i2").tobytes()
        self._offset = 0
        self.served = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        if not self._pending and self._left > 0:
            n = min(self._left, len(self._second) - self._offset, len(buffer))
            self._pending = self._second[self._offset : self._offset + n]
            self._offset = (self._offset + n) % len(self._second)
            self._left -= n
        n = min(len(buffer), len(self._pending))
        buffer[:n] = self._pending[:n]
        self._pending = self._pending[n:]
        self.served += n
        return n


def _assert_error(
    excinfo: pytest.ExceptionInfo[AudioError], cls: type[AudioError], code: str, *words: str
) -> None:
    err = excinfo.value
    assert type(err) is cls, f"{type(err).__name__}: {err}"
    assert err.code == code
    message = str(err).lower()
    for word in words:
        assert word.lower() in message, f"{word!r} not in {message!r}"


# --------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def jfk_native(shared_audio: Path) -> tuple[np.ndarray, int]:
    return _decode_native(shared_audio / "jfk.flac")


@pytest.fixture(scope="module")
def jfk_16k(shared_audio: Path) -> np.ndarray:
    return load_audio(shared_audio / "jfk.flac")


@pytest.fixture(scope="module")
def media_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("media")


# name -> (container, audio codec, codec rate, video codec, expected codec, expected format)
ENCODINGS: dict[str, tuple[str, str, int, str | None, str, str]] = {
    "speech.mp3": ("mp3", "libmp3lame", 44100, None, "mp3", "mp3"),
    "speech.m4a": ("ipod", "aac", 44100, None, "aac", MP4_FORMAT),
    "speech.ogg": ("ogg", "libopus", 48000, None, "opus", "ogg"),
    "speech.webm": ("webm", "libopus", 48000, None, "opus", "matroska,webm"),
    "speech_h264.mp4": ("mp4", "aac", 44100, "libx264", "aac", MP4_FORMAT),
    "speech_mpeg4.mp4": ("mp4", "aac", 44100, "mpeg4", "aac", MP4_FORMAT),
}


@pytest.fixture(scope="module")
def encoded(media_dir: Path, jfk_native: tuple[np.ndarray, int]) -> Callable[[str], Path]:
    samples, rate = jfk_native
    cache: dict[str, Path] = {}

    def get(name: str) -> Path:
        if name not in cache:
            fmt, codec, codec_rate, video, _, _ = ENCODINGS[name]
            cache[name] = _encode(
                media_dir / name,
                samples,
                rate,
                container_format=fmt,
                codec=codec,
                codec_rate=codec_rate,
                video=video,
            )
        return cache[name]

    return get


@pytest.fixture(scope="module")
def video_only(media_dir: Path) -> Path:
    return _encode(
        media_dir / "silent_video.mp4",
        np.zeros((1, 0), np.float32),
        16000,
        container_format="mp4",
        codec=None,
        codec_rate=16000,
        video="libx264",
        video_seconds=2.0,
    )


# --------------------------------------------------------------------------- real audio


@pytest.mark.parametrize(
    "name",
    ["jfk.flac", "silero_test.wav", "pyannote/sample.wav", "fw_stereo_diarization.wav"],
)
def test_shared_audio_decodes_to_16k_mono_of_the_declared_length(
    shared_audio: Path, name: str
) -> None:
    path = shared_audio / name
    info = probe(path)
    audio = load_audio(path)
    assert audio.dtype == np.float32
    assert audio.ndim == 1
    assert audio.flags.c_contiguous and audio.flags.owndata  # no spare capacity kept alive
    assert info.duration is not None
    # The resampler is flushed: no tail samples go missing.
    assert abs(len(audio) - round(info.duration * SAMPLE_RATE)) <= 2
    assert np.isfinite(audio).all()
    assert 0.01 < np.abs(audio).max() <= 1.0


def test_probe_reads_the_headers(shared_audio: Path) -> None:
    info = probe(shared_audio / "jfk.flac")
    assert info == AudioInfo(
        duration=JFK_SECONDS, sample_rate=44100, channels=2, codec="flac", format="flac"
    )
    wav = probe(shared_audio / "fw_stereo_diarization.wav")
    assert (wav.sample_rate, wav.channels, wav.codec, wav.format) == (
        16000,
        2,
        "pcm_s16le",
        "wav",
    )
    assert wav.duration == pytest.approx(5.0)
    data = (shared_audio / "jfk.flac").read_bytes()
    assert probe(data) == info
    assert probe(io.BytesIO(data)) == info


def test_resampling_keeps_the_signal(
    jfk_native: tuple[np.ndarray, int], jfk_16k: np.ndarray
) -> None:
    samples, rate = jfk_native
    assert len(jfk_16k) == round(JFK_SECONDS * SAMPLE_RATE)
    original = samples.mean(axis=0)
    # 20 ms envelopes of the 44.1 kHz original and the 16 kHz output line up window by window.
    a, b = _envelope(original, rate), _envelope(jfk_16k, SAMPLE_RATE)
    n = min(len(a), len(b))
    assert np.corrcoef(a[:n], b[:n])[0, 1] > 0.995
    # Same loudness: the stereo downmix is the channel mean, not a +3 dB sum.
    rms = float(np.sqrt(np.mean(jfk_16k.astype(np.float64) ** 2)))
    assert rms == pytest.approx(float(np.sqrt(np.mean(original.astype(np.float64) ** 2))), 0.02)


def test_other_sample_rates(shared_audio: Path) -> None:
    audio = load_audio(shared_audio / "jfk.flac", sample_rate=8000)
    assert len(audio) == round(JFK_SECONDS * 8000)


@pytest.mark.parametrize("name", list(ENCODINGS))
def test_lossy_and_video_containers(
    name: str, encoded: Callable[[str], Path], jfk_16k: np.ndarray
) -> None:
    path = encoded(name)
    *_, codec, fmt = ENCODINGS[name]
    info = probe(path)
    assert (info.codec, info.format, info.channels) == (codec, fmt, 1)
    assert info.duration == pytest.approx(JFK_SECONDS, abs=0.05)
    audio = load_audio(path)
    # Encoder priming may add up to ~30 ms.
    assert len(audio) / SAMPLE_RATE == pytest.approx(JFK_SECONDS, abs=0.05)
    assert _envelope_correlation(audio, jfk_16k, SAMPLE_RATE) > 0.95


def test_bytes_and_file_objects_match_paths(
    shared_audio: Path, encoded: Callable[[str], Path]
) -> None:
    for path in (shared_audio / "jfk.flac", encoded("speech.mp3"), encoded("speech_h264.mp4")):
        expected = load_audio(path)
        data = path.read_bytes()
        variants = {
            "str": load_audio(str(path)),
            "bytes": load_audio(data),
            "bytearray": load_audio(bytearray(data)),
            "memoryview": load_audio(memoryview(data)),
            "BytesIO": load_audio(io.BytesIO(data)),
            "open file": load_audio(path.open("rb")),
        }
        for how, audio in variants.items():
            assert np.array_equal(audio, expected), f"{path.name} via {how}"
        if path.suffix != ".mp4":  # MP4 needs seeking; FLAC and MP3 stream from a pipe
            piped = load_audio(_Unseekable(data))
            # From a pipe FFmpeg cannot apply MP3's gapless trim (LAME tag), so up to one
            # frame of encoder padding stays at the end (and the resampler's last few samples
            # see it).
            assert np.array_equal(piped[: len(expected) - 32], expected[:-32])
            assert len(piped) - len(expected) <= 0.03 * SAMPLE_RATE


def test_file_object_is_read_from_its_current_position(shared_audio: Path) -> None:
    data = (shared_audio / "jfk.flac").read_bytes()
    f = io.BytesIO(b"junk" * 100 + data)
    f.seek(400)
    assert np.array_equal(load_audio(f), load_audio(data))
    assert not f.closed


def test_separate_channels(shared_audio: Path) -> None:
    path = shared_audio / "fw_stereo_diarization.wav"
    both = load_audio(path, channels="separate")
    assert both.shape == (2, 5 * SAMPLE_RATE)
    assert both.dtype == np.float32 and both.flags.c_contiguous
    # One speaker per channel: the channels are different signals.
    assert abs(np.corrcoef(both[0], both[1])[0, 1]) < 0.2
    assert not np.allclose(both[0], both[1])
    assert np.allclose(load_audio(path), both.mean(axis=0), atol=1e-6)

    mono = shared_audio / "pyannote/sample.wav"
    rows = load_audio(mono, channels="separate")
    assert rows.shape == (1, 30 * SAMPLE_RATE)
    assert np.array_equal(rows[0], load_audio(mono))


def test_format_change_midstream(media_dir: Path, jfk_native: tuple[np.ndarray, int]) -> None:
    # Concatenated MP3s at different rates: the decoder switches rate, the converter follows.
    samples, rate = jfk_native
    first = _encode(
        media_dir / "a.mp3",
        samples,
        rate,
        container_format="mp3",
        codec="libmp3lame",
        codec_rate=44100,
    )
    second = _encode(
        media_dir / "b.mp3",
        samples[:, : 3 * rate],
        rate,
        container_format="mp3",
        codec="libmp3lame",
        codec_rate=22050,
    )
    audio = load_audio(first.read_bytes() + second.read_bytes())
    assert len(audio) / SAMPLE_RATE == pytest.approx(14.0, abs=0.1)


def test_estimated_lengths_are_not_trusted(
    media_dir: Path, jfk_native: tuple[np.ndarray, int]
) -> None:
    # Raw ADTS AAC has no length header: FFmpeg estimates one from the first frames' bit rate,
    # which after a silent intro is ~13x too long. It must not count as truncated or too long.
    samples, rate = jfk_native
    padded = np.concatenate([np.zeros((2, 5 * rate), np.float32), samples], axis=1)
    path = _encode(
        media_dir / "speech.aac",
        padded,
        rate,
        container_format="adts",
        codec="aac",
        codec_rate=44100,
    )
    with av.open(str(path)) as container:
        assert container.duration / 1e6 > 60  # what FFmpeg claims
    assert probe(path).duration is None
    audio = load_audio(path, max_duration=30)
    assert len(audio) / SAMPLE_RATE == pytest.approx(16.0, abs=0.1)


# --------------------------------------------------------------------------- numpy input


def test_array_input_is_validated_and_passed_through() -> None:
    x = np.random.default_rng(0).standard_normal(16000).astype(np.float32) * 0.1
    assert load_audio(x) is x
    y = load_audio(x.astype(np.float64))
    assert y.dtype == np.float32 and np.allclose(y, x)
    assert load_audio(x, channels="separate").shape == (1, 16000)
    stereo = np.stack([x, -x])
    assert np.array_equal(load_audio(stereo, channels="separate"), stereo)

    with pytest.raises(InvalidArrayError) as excinfo:
        load_audio((x * 32767).astype(np.int16))
    _assert_error(excinfo, InvalidArrayError, "invalid_array", "float", "32768")
    with pytest.raises(InvalidArrayError) as excinfo:
        load_audio(stereo)
    _assert_error(excinfo, InvalidArrayError, "invalid_array", "1-D", "separate")
    bad = x.copy()
    bad[10] = np.nan
    with pytest.raises(InvalidArrayError) as excinfo:
        load_audio(bad)
    _assert_error(excinfo, InvalidArrayError, "invalid_array", "NaN")
    with pytest.raises(EmptyAudioError) as empty:
        load_audio(np.zeros(0, np.float32))
    _assert_error(empty, EmptyAudioError, "empty_audio", "empty")
    with pytest.raises(AudioTooLongError) as too_long:
        load_audio(x, max_duration=0.5)
    assert too_long.value.duration == 1.0 and too_long.value.limit == 0.5


# --------------------------------------------------------------------------- bad input


def test_missing_path(tmp_path: Path) -> None:
    missing = tmp_path / "nope.wav"
    with pytest.raises(AudioNotFoundError) as excinfo:
        load_audio(missing)
    _assert_error(excinfo, AudioNotFoundError, "not_found", "does not exist", "nope.wav")
    assert isinstance(excinfo.value, FileNotFoundError)
    assert excinfo.value.filename == str(missing)
    with pytest.raises(AudioNotFoundError):
        probe(str(missing))
    with pytest.raises(NotAudioError) as directory:
        load_audio(tmp_path)
    _assert_error(directory, NotAudioError, "not_audio", "directory")


def test_zero_bytes(tmp_path: Path) -> None:
    empty = tmp_path / "empty.wav"
    empty.write_bytes(b"")
    for source in (empty, b"", io.BytesIO(b""), _Unseekable(b"")):
        with pytest.raises(EmptyAudioError) as excinfo:
            load_audio(source)
        _assert_error(excinfo, EmptyAudioError, "empty_audio", "empty", "0 bytes")
    with pytest.raises(EmptyAudioError):
        probe(empty)


def test_silence_is_not_empty(shared_audio: Path) -> None:
    audio = load_audio(shared_audio / "pyannote/empty.wav")
    assert len(audio) == SAMPLE_RATE


def test_text_file_named_wav(tmp_path: Path) -> None:
    path = tmp_path / "notes.wav"
    path.write_text("These are meeting notes, not a recording.\n" * 50)
    with pytest.raises(NotAudioError) as excinfo:
        load_audio(path)
    _assert_error(excinfo, NotAudioError, "not_audio", "not audio", "text file", "notes.wav")
    with pytest.raises(NotAudioError):
        probe(path)


def test_random_bytes() -> None:
    data = np.random.default_rng(7).bytes(50_000)
    with pytest.raises(NotAudioError) as excinfo:
        load_audio(data)
    _assert_error(excinfo, NotAudioError, "not_audio", "not audio", "WAV, FLAC")


def test_truncated_flac(shared_audio: Path, tmp_path: Path) -> None:
    data = (shared_audio / "jfk.flac").read_bytes()
    half = tmp_path / "half.flac"
    half.write_bytes(data[: len(data) // 2])
    # Measured: STREAMINFO still declares 11.0 s, 5.43 s decode, then one decoding error.
    with pytest.raises(CorruptAudioError) as excinfo:
        load_audio(half)
    _assert_error(excinfo, CorruptAudioError, "corrupt_audio", "truncated", "5.4 s", "11.0 s")
    assert excinfo.value.decoded_duration == pytest.approx(5.43, abs=0.01)
    assert excinfo.value.declared_duration == pytest.approx(JFK_SECONDS)
    # The same from bytes, and near the end (10.3 of 11 s).
    with pytest.raises(CorruptAudioError):
        load_audio(data[: len(data) * 95 // 100])
    # Too little left to even open: still reported as a damaged FLAC, not as "not audio".
    with pytest.raises(CorruptAudioError) as stub:
        load_audio(data[:100])
    _assert_error(stub, CorruptAudioError, "corrupt_audio", "FLAC", "truncated")


def test_truncated_other_containers(shared_audio: Path, encoded: Callable[[str], Path]) -> None:
    wav = (shared_audio / "pyannote/sample.wav").read_bytes()
    with pytest.raises(CorruptAudioError) as cut_wav:
        load_audio(wav[: len(wav) // 3])
    _assert_error(cut_wav, CorruptAudioError, "corrupt_audio", "10.0 s", "30.0 s")

    mp3 = encoded("speech.mp3").read_bytes()
    with pytest.raises(CorruptAudioError) as cut_mp3:
        load_audio(mp3[: len(mp3) // 2])
    _assert_error(cut_mp3, CorruptAudioError, "corrupt_audio", "11.0 s")

    # MP4 with its index at the end: cut, it no longer opens (or loses its tracks).
    mp4 = encoded("speech_h264.mp4").read_bytes()
    for keep in (len(mp4) // 2, len(mp4) * 95 // 100):
        with pytest.raises(CorruptAudioError) as cut_mp4:
            load_audio(mp4[:keep])
        _assert_error(cut_mp4, CorruptAudioError, "corrupt_audio", "truncated", "box")


def test_mp4_from_a_pipe(encoded: Callable[[str], Path]) -> None:
    # Index at the end: FFmpeg cannot seek to it in a pipe; the message says what to pass.
    with pytest.raises(CorruptAudioError) as excinfo:
        load_audio(_Unseekable(encoded("speech_h264.mp4").read_bytes()))
    _assert_error(excinfo, CorruptAudioError, "corrupt_audio", "non-seekable", "bytes")


def test_damage_in_the_middle(encoded: Callable[[str], Path]) -> None:
    data = bytearray(encoded("speech.mp3").read_bytes())
    middle = len(data) // 2
    data[middle : middle + 5000] = np.random.default_rng(3).bytes(5000)
    with pytest.raises(CorruptAudioError) as excinfo:
        load_audio(bytes(data))
    _assert_error(excinfo, CorruptAudioError, "corrupt_audio", "damaged", "of the declared 11.0 s")


def test_video_without_audio(video_only: Path) -> None:
    for source in (video_only, video_only.read_bytes()):
        with pytest.raises(NoAudioStreamError) as excinfo:
            load_audio(source)
        _assert_error(excinfo, NoAudioStreamError, "no_audio_stream", "video", "no", "audio track")
    with pytest.raises(NoAudioStreamError):
        probe(video_only)


def test_wav_header_without_data() -> None:
    # Declares 1 s of audio, contains none: a cut file, not an empty recording.
    with pytest.raises(CorruptAudioError) as excinfo:
        load_audio(_wav_bytes(np.zeros(0), 16000, data_size=32000))
    _assert_error(excinfo, CorruptAudioError, "corrupt_audio", "none of the declared 1.0 s")
    # Declares and contains nothing: empty.
    with pytest.raises(EmptyAudioError) as empty:
        load_audio(_wav_bytes(np.zeros(0), 16000))
    _assert_error(empty, EmptyAudioError, "empty_audio", "no samples")


def test_badly_encoded_metadata_does_not_fail_the_file() -> None:
    # A RIFF INFO title in Latin-1 with stray bytes: PyAV < 19 fails the whole open on it unless
    # told to replace, PyAV 19 no longer takes that argument. Both must decode the audio.
    tone = (np.sin(np.arange(16000) * 0.1) * 3000).astype("<i2").tobytes()
    fmt = struct.pack("<HHIIHH", 1, 1, 16000, 32000, 2, 16)
    title = b"Caf\xe9 \xff\xfe\x00"
    info = b"INFO" + b"INAM" + struct.pack("<I", len(title)) + title
    body = b"fmt " + struct.pack("<I", len(fmt)) + fmt
    body += b"LIST" + struct.pack("<I", len(info)) + info
    body += b"data" + struct.pack("<I", len(tone)) + tone
    wav = b"RIFF" + struct.pack("<I", 4 + len(body)) + b"WAVE" + body
    audio = load_audio(wav)
    assert audio.shape == (16000,)
    assert probe(io.BytesIO(wav)).sample_rate == 16000


def test_non_finite_float_wav() -> None:
    samples = np.zeros(16000, np.float32)
    samples[8000] = np.inf
    with pytest.raises(CorruptAudioError) as excinfo:
        load_audio(_wav_bytes(samples, 16000, float32=True))
    _assert_error(excinfo, CorruptAudioError, "corrupt_audio", "infinite")


def test_declared_length_over_the_limit(shared_audio: Path) -> None:
    with pytest.raises(AudioTooLongError) as excinfo:
        load_audio(shared_audio / "jfk.flac", max_duration=5)
    _assert_error(excinfo, AudioTooLongError, "audio_too_long", "limit", "11.0 s")
    err = excinfo.value
    assert (err.duration, err.limit, err.exact) == (JFK_SECONDS, 5, True)
    # At the limit is fine.
    assert len(load_audio(shared_audio / "jfk.flac", max_duration=JFK_SECONDS)) == 176000


def test_decoding_stops_once_past_the_limit() -> None:
    # Ten hours of streamed WAV with no usable length: only ~30 s may be read and decoded.
    stream = _EndlessWav(seconds=10 * 3600)
    started = time.perf_counter()
    with pytest.raises(AudioTooLongError) as excinfo:
        load_audio(stream, max_duration=30)
    elapsed = time.perf_counter() - started
    _assert_error(excinfo, AudioTooLongError, "audio_too_long", "30 s limit", "stopped at")
    err = excinfo.value
    assert err.exact is False
    assert 30 < err.duration < 31
    assert stream.served < 2 * 31 * 16000 * 2  # bytes: about 30 s of 16-bit samples
    assert elapsed < 5

    # Without a limit, the same kind of stream decodes completely.
    assert len(load_audio(_EndlessWav(seconds=3))) == 3 * SAMPLE_RATE


def test_error_codes_are_stable() -> None:
    codes = {
        AudioNotFoundError: "not_found",
        EmptyAudioError: "empty_audio",
        NotAudioError: "not_audio",
        NoAudioStreamError: "no_audio_stream",
        CorruptAudioError: "corrupt_audio",
        AudioTooLongError: "audio_too_long",
        InvalidArrayError: "invalid_array",
    }
    for cls, code in codes.items():
        assert cls.code == code
        assert issubclass(cls, AudioError) and issubclass(cls, ValueError)


def test_errors_survive_pickling(shared_audio: Path) -> None:
    # Worker processes hand errors back to the server by pickling them.
    with pytest.raises(AudioTooLongError) as excinfo:
        load_audio(shared_audio / "jfk.flac", max_duration=5)
    copy = pickle.loads(pickle.dumps(excinfo.value))
    assert type(copy) is AudioTooLongError
    assert (str(copy), copy.code, copy.duration, copy.limit, copy.exact) == (
        str(excinfo.value),
        "audio_too_long",
        JFK_SECONDS,
        5,
        True,
    )
    missing = pickle.loads(pickle.dumps(AudioNotFoundError("gone", filename="x.wav")))
    assert isinstance(missing, FileNotFoundError) and missing.filename == "x.wav"
    assert str(missing) == "gone"


def test_bad_arguments(shared_audio: Path) -> None:
    path = shared_audio / "jfk.flac"
    with pytest.raises(ValueError, match="channels"):
        load_audio(path, channels="left")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="sample_rate"):
        load_audio(path, sample_rate=0)
    with pytest.raises(ValueError, match="max_duration"):
        load_audio(path, max_duration=0)
    with pytest.raises(TypeError, match="audio source"):
        load_audio(42)  # type: ignore[arg-type]
