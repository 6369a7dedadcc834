"""The serving path never imports torch or transformers, even where they are installed."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path


def test_serving_path_is_torch_free(test_models: Path, shared_audio: Path) -> None:
    code = f"""
import sys
import hark, hark.cli, hark.server.app, hark.runpod.handler, hark.client, hark.jobs.service
engine = hark.load_engine({str(test_models / "whisper-tiny")!r}, device="cpu")
result = engine.transcribe({str(shared_audio / "pyannote/sample.wav")!r}, language="en",
    diarize=True, align_model={str(test_models / "wav2vec2-align-tiny")!r},
    suppress_tokens=[-1, 50257], max_new_tokens=16, beam_size=1, temperature=[0])
assert result.alignment == "ctc" and result.speakers, result
loaded = sorted(m for m in sys.modules if m.split(".")[0] in ("torch", "transformers"))
assert not loaded, loaded
"""
    subprocess.run([sys.executable, "-c", code], check=True, timeout=300)
