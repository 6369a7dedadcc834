"""Speaker labels on live finals: online clustering, stable labels, the real GE2E encoder."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from hark.live.speakers import OnlineSpeakers, default_embed


def unit(*values: float) -> np.ndarray:
    v = np.asarray(values, dtype=np.float32)
    return v / np.linalg.norm(v)


def test_labels_follow_similarity_and_never_change() -> None:
    vectors = {"a": unit(1, 0, 0), "a2": unit(0.95, 0.1, 0), "b": unit(0, 1, 0), "c": unit(0, 0, 1)}
    online = OnlineSpeakers(lambda audio: vectors[["a", "b", "a2", "c", "b"][int(audio[0])]])
    labels = [online.label(np.full(16000, k, np.float32)) for k in range(5)]
    assert labels == ["SPEAKER_00", "SPEAKER_01", "SPEAKER_00", "SPEAKER_02", "SPEAKER_01"]


def test_short_segments_take_the_last_speaker_and_the_count_is_capped() -> None:
    online = OnlineSpeakers(lambda audio: unit(*np.eye(4)[int(audio[0])]), max_speakers=2)
    assert online.label(np.zeros(100, np.float32)) == "SPEAKER_00"  # too short: first label
    assert online.label(np.full(16000, 1, np.float32)) == "SPEAKER_00"  # that voice is 00
    assert online.label(np.full(16000, 2, np.float32)) == "SPEAKER_01"
    third = online.label(np.full(16000, 3, np.float32))
    assert third in ("SPEAKER_00", "SPEAKER_01") and online.count == 2  # the cap
    assert online.label(np.zeros(100, np.float32)) == third  # short: the last speaker


def test_real_voices_get_two_stable_labels(shared_audio: Path) -> None:
    from hark.audio import load_audio

    channels = load_audio(shared_audio / "fw_stereo_diarization.wav", channels="separate")
    halves = []
    for x in channels:
        voiced = np.flatnonzero(np.abs(x) > 0.01)
        x = x[voiced[0] : voiced[-1]]
        halves.append((x[: x.size // 2], x[x.size // 2 :]))
    (l1, l2), (r1, r2) = halves
    online = OnlineSpeakers(default_embed)
    labels = [online.label(a) for a in (l1, r1, l2, r2)]
    assert labels == ["SPEAKER_00", "SPEAKER_01", "SPEAKER_00", "SPEAKER_01"]
