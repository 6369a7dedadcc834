"""Speaker embedding model selection by name: the embedded GE2E encoder or an ONNX model.

Its own module so that the interface (`hark.diarize.embedding`) and its implementations
(`embedding.OnnxSpeakerEmbedding`, `ge2e.GE2EEncoder`) import in one direction only.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hark.diarize.embedding import OnnxSpeakerEmbedding, SpeakerEmbedding
from hark.diarize.ge2e import GE2EEncoder
from hark.diarize.runtime import resolve_model_file

DEFAULT_EMBEDDING = "resemblyzer"
"""Name of the embedded default (the GE2E encoder inside the Resemblyzer wheel)."""


def load_embedding_model(
    name: str | None = None,
    *,
    device: str = "cpu",
    cache_dir: str | Path | None = None,
    local_files_only: bool = False,
    cpu_threads: int = 0,
    **options: Any,
) -> SpeakerEmbedding:
    """The embedding model called `name`.

    None or "resemblyzer" selects the embedded GE2E encoder; a `.pt` path selects GE2E weights in
    Resemblyzer's format; anything else is an ONNX model by path or Hugging Face id (see
    `resolve_model_file`). Extra keyword options go to `OnnxSpeakerEmbedding`.
    """
    if name is None or name.lower() in (DEFAULT_EMBEDDING, "ge2e"):
        return GE2EEncoder.load(device=device, cpu_threads=cpu_threads)
    if name.endswith(".pt") and Path(name).expanduser().is_file():
        return GE2EEncoder.load(Path(name).expanduser(), device=device, cpu_threads=cpu_threads)
    path = resolve_model_file(name, cache_dir=cache_dir, local_files_only=local_files_only)
    return OnnxSpeakerEmbedding(path, device=device, cpu_threads=cpu_threads, **options)
