"""The example notebooks (examples/*.ipynb) executed headless with nbclient against a real
local server (the random-weight test model on loopback), parameters given through the
environment variables the notebooks read."""

from __future__ import annotations

import importlib.util
import json
import tempfile
from pathlib import Path
from typing import Any

import pytest

from support_server import FAST, Server, clip, shared_server

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
# Random weights: short, deterministic decodes (FAST), and speakers to plot.
OPTIONS = {**FAST, "diarize": "true"}
FORMATS = ("srt", "vtt", "txt", "tsv")  # what batch.ipynb asks for, besides the JSON


@pytest.fixture(scope="module")
def server(test_models: Path) -> Server:
    data = tempfile.mkdtemp(prefix="hark-notebook-jobs-")
    return shared_server(
        "deploy-notebooks", test_models, {"HARK_DATA_DIR": data, "HARK_CPU_THREADS": "1"}
    )


def execute(name: str, cwd: Path, env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Any:
    for key, value in {**env, "NO_PROXY": "*"}.items():
        monkeypatch.setenv(key, value)  # the kernel process inherits them
    monkeypatch.delenv("MPLBACKEND", raising=False)  # the kernel's inline backend draws PNGs
    notebook = nbformat.read(EXAMPLES / f"{name}.ipynb", as_version=4)
    client = nbclient.NotebookClient(
        notebook, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(cwd)}}
    )
    client.execute()
    return notebook


def outputs(notebook: Any) -> list[dict[str, Any]]:
    return [o for cell in notebook.cells if cell.cell_type == "code" for o in cell.outputs]


def text_of(notebook: Any) -> str:
    return "".join(o.get("text", "") for o in outputs(notebook))


def test_stt_notebook(
    server: Server, shared_audio: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    audio = tmp_path / "meeting.wav"
    audio.write_bytes(clip(shared_audio / "jfk.flac", 6.0))
    env = {"HARK_SERVER": server.url, "HARK_AUDIO": str(audio), "HARK_OPTIONS": json.dumps(OPTIONS)}
    notebook = execute("stt", tmp_path, env, monkeypatch)
    text = text_of(notebook)
    assert "language en, 6.0 s" in text
    srt = (tmp_path / "meeting.srt").read_text()
    assert srt.startswith("1\n00:00:")
    # The speaker timeline was drawn.
    assert any("image/png" in o.get("data", {}) for o in outputs(notebook))


@pytest.mark.skipif(
    importlib.util.find_spec("hark.client") is None,
    reason="hark.client (the jobs API client) is not in this checkout yet",
)
def test_batch_notebook(
    server: Server, shared_audio: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "audio"
    folder.mkdir()
    source = shared_audio / "librispeech" / "1089-134686-0000.flac"
    for i in range(4):
        (folder / f"part{i}.wav").write_bytes(clip(source, 2.0 + 0.5 * i, offset=0.5))
    (folder / "notes.txt").write_text("not audio: skipped by suffix")
    out = tmp_path / "transcripts"
    env = {
        "HARK_SERVER": server.url,
        "HARK_AUDIO_DIR": str(folder),
        "HARK_OUT_DIR": str(out),
        "HARK_CONCURRENCY": "3",
        "HARK_OPTIONS": json.dumps({k: v for k, v in FAST.items() if k != "language"}),
    }
    notebook = execute("batch", tmp_path, env, monkeypatch)
    text = text_of(notebook)
    assert "4 files in" in text and "4 done, 0 failed" in text
    names = sorted(p.name for p in out.iterdir())
    expected = sorted(f"part{i}.{ext}" for i in range(4) for ext in ("json", *FORMATS))
    assert names == expected
    result = json.loads((out / "part3.json").read_text())
    assert result["duration"] == pytest.approx(3.5, abs=0.01)
    assert (out / "part0.srt").read_text().startswith("1\n")
    # The progress bar went to the notebook (stderr).
    assert "transcribing: 100%" in text
