"""The `hark` command, run as a user would: a real subprocess on real files."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import helpers
from hark.cli_transcribe import output_names
from hark.options import TranscribeOptions
from support_server import as_query

# helpers.FIXED as command-line flags (`--beam-size 1 ...`), with a shorter cap.
FIXED = [
    item
    for key, value in as_query({**helpers.FIXED, "max_new_tokens": 16}).items()
    for item in (f"--{key.replace('_', '-')}", value)
]


def hark(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COLUMNS": "200", "HF_HUB_OFFLINE": "1"}
    return subprocess.run(
        [sys.executable, "-m", "hark.cli", *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=cwd,
        timeout=300,
    )


def test_help_is_complete() -> None:
    top = hark("--help")
    assert top.returncode == 0
    for command in ("transcribe", "models", "dev"):
        assert command in top.stdout
    sub = hark("transcribe", "--help")
    assert sub.returncode == 0
    flags = sub.stdout
    assert "json, txt, tsv, srt, vtt, rttm or all" in " ".join(flags.split())
    for name in TranscribeOptions.model_fields:
        assert "--" + name.replace("_", "-") in flags, name
    for flag in (
        "--output-dir",
        "--output-format",
        "--model",
        "--compute-type",
        "--max-line-width",
        "--highlight-words",
        "--local-files-only",
    ):
        assert flag in flags
    assert hark("--version").stdout.startswith("hark ")


def test_batch_with_a_corrupt_file(test_models, shared_audio, tmp_path) -> None:
    corrupt = tmp_path / "broken.flac"
    corrupt.write_bytes((shared_audio / "jfk.flac").read_bytes()[:3000])
    text = tmp_path / "notes.wav"
    text.write_text("this is not audio\n")
    files = [shared_audio / "jfk.flac", corrupt, text, shared_audio / "pyannote/sample.wav"]
    out = tmp_path / "out"
    run = hark(
        "transcribe",
        *map(str, files),
        "-o",
        str(out),
        "-f",
        "all",
        "--model",
        str(test_models / "whisper-tiny"),
        "--language",
        "en",
        *FIXED,
    )
    assert run.returncode == 1, run.stderr
    assert "2 of 4 file(s) failed" in run.stderr
    assert "broken.flac" in run.stderr and "notes.wav" in run.stderr
    for stem in ("jfk", "sample"):
        for ext in ("json", "txt", "tsv", "srt", "vtt"):
            assert (out / f"{stem}.{ext}").stat().st_size > 0, (stem, ext)
        data = json.loads((out / f"{stem}.json").read_text())
        assert data["word_segments"] and data["language"] == "en"
    assert not list(out.glob("broken.*")) and not list(out.glob("notes.*"))


def test_repeated_and_comma_separated_formats_add_up(test_models, shared_audio, tmp_path) -> None:
    model = ["--model", str(test_models / "whisper-tiny"), "--language", "en", *FIXED]
    run = hark("transcribe", str(shared_audio / "jfk.flac"), "-o", str(tmp_path), "-f", "srt",
               "-f", "json,TXT", "-f", "srt", *model)  # fmt: skip
    assert run.returncode == 0, run.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["jfk.json", "jfk.srt", "jfk.txt"]


def test_single_format_and_subtitle_options(test_models, shared_audio, tmp_path) -> None:
    run = hark(
        "transcribe",
        str(shared_audio / "jfk.flac"),
        "-o",
        str(tmp_path),
        "-f",
        "srt",
        "--max-line-width",
        "20",
        "--max-line-count",
        "1",
        "--model",
        str(test_models / "whisper-tiny"),
        "--language",
        "en",
        *FIXED,
    )
    assert run.returncode == 0, run.stderr
    assert [p.name for p in tmp_path.iterdir()] == ["jfk.srt"]
    lines = [
        ln
        for ln in (tmp_path / "jfk.srt").read_text().splitlines()
        if ln and "-->" not in ln and not ln.isdigit()
    ]
    assert lines and all(len(ln) <= 20 or " " not in ln for ln in lines)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--beam-size", "0"], "beam_size"),
        (["--language", "xx"], "language"),
        (["-f", "docx"], "docx"),
    ],
)
def test_bad_arguments_are_reported(test_models, shared_audio, tmp_path, args, message) -> None:
    run = hark(
        "transcribe",
        str(shared_audio / "jfk.flac"),
        "-o",
        str(tmp_path),
        "--model",
        str(test_models / "whisper-tiny"),
        *args,
    )
    assert run.returncode != 0
    assert message in run.stderr
    assert "Traceback" not in run.stderr


def test_missing_model_offline_is_explained(shared_audio, tmp_path) -> None:
    run = hark(
        "transcribe",
        str(shared_audio / "jfk.flac"),
        "-o",
        str(tmp_path),
        "--model",
        "medium",
        "--download-root",
        str(tmp_path / "cache"),
    )
    assert run.returncode == 1
    assert "hark models download medium" in run.stderr
    assert "Traceback" not in run.stderr


def test_output_names_never_collide() -> None:
    files = [Path("a/x.wav"), Path("b/x.mp3"), Path("c/y.wav"), Path("d/x.wav")]
    names = output_names(files)
    assert len(set(names)) == len(names)
    assert names[2] == "y"


def test_diarize_align_and_known_speaker_flags(test_models, shared_audio, tmp_path) -> None:
    reference = tmp_path / "alice.wav"
    import av
    import numpy as np

    from hark.audio import load_audio

    clip = load_audio(shared_audio / "pyannote/sample.wav")[10 * 16000 : 14 * 16000]
    with av.open(str(reference), "w") as out:
        stream = out.add_stream("pcm_s16le", rate=16000, layout="mono")
        frame = av.AudioFrame.from_ndarray(
            (clip * 32767).astype(np.int16)[None, :], format="s16", layout="mono"
        )
        frame.rate = 16000
        for packet in stream.encode(frame):
            out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    run = hark(
        "transcribe",
        str(shared_audio / "pyannote/sample.wav"),
        "-o",
        str(tmp_path),
        "-f",
        "txt,rttm,json",
        "--model",
        str(test_models / "whisper-tiny"),
        "--language",
        "en",
        "--align-model",
        str(test_models / "wav2vec2-align-tiny"),
        "--num-speakers",
        "2",
        "--speaker",
        f"Alice={reference}",
        *FIXED,
    )
    assert run.returncode == 0, run.stderr
    data = json.loads((tmp_path / "sample.json").read_text())
    assert data["alignment"] == "ctc"
    assert all("speaker" in w for w in data["word_segments"])
    assert "Alice" in {s["speaker"] for s in data["segments"]}
    assert "[Alice]:" in (tmp_path / "sample.txt").read_text()
    assert "Alice" in (tmp_path / "sample.rttm").read_text()
    bad = hark("transcribe", str(shared_audio / "jfk.flac"), "--speaker", "Bob")
    assert bad.returncode == 2 and "NAME=FILE" in bad.stderr
