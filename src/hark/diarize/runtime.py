"""Finding speaker models (local path or Hugging Face id) and opening ONNX Runtime sessions."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hark.diarize.errors import ModelFormatError, ModelNotFoundError
from hark.onnx_providers import execution_providers


def resolve_model_file(
    name: str,
    *,
    suffix: str = ".onnx",
    cache_dir: str | Path | None = None,
    local_files_only: bool = False,
) -> Path:
    """The model file for `name`.

    `name` is a file, a directory holding exactly one `*{suffix}` file, a Hugging Face repository
    id (`org/repo`, which must then hold exactly one such file) or a file inside one
    (`org/repo/path/model.onnx`). Hub look-ups go through `huggingface_hub`, offline when
    `local_files_only` is set.
    """
    path = Path(name).expanduser()
    if path.is_file():
        return path
    if path.is_dir():
        return _single(sorted(path.rglob(f"*{suffix}")), name, suffix)
    parts = name.strip("/").split("/")
    if len(parts) < 2 or path.is_absolute() or name.startswith("."):
        raise ModelNotFoundError(f"model not found: {name} (no such file or directory)")
    repo_id, filename = "/".join(parts[:2]), "/".join(parts[2:]) or None
    try:
        import huggingface_hub
    except ImportError as exc:  # pragma: no cover - a declared dependency
        raise ModelNotFoundError(f"{name}: huggingface_hub is needed for hub ids") from exc
    try:
        if filename is not None:
            return Path(
                huggingface_hub.hf_hub_download(
                    repo_id, filename, cache_dir=cache_dir, local_files_only=local_files_only
                )
            )
        folder = huggingface_hub.snapshot_download(
            repo_id,
            cache_dir=cache_dir,
            local_files_only=local_files_only,
            allow_patterns=[f"*{suffix}", "*.json", "*.yaml", "*.txt"],
        )
    except Exception as exc:  # the hub raises many types: offline, gated, missing, ...
        where = "in the local Hugging Face cache" if local_files_only else "on the Hugging Face Hub"
        raise ModelNotFoundError(
            f"speaker model {name!r} not found {where}: {exc}. Pass a local path to an ONNX file, "
            "or download it once with network access."
        ) from exc
    return _single(sorted(Path(folder).rglob(f"*{suffix}")), name, suffix)


def _single(candidates: list[Path], name: str, suffix: str) -> Path:
    if len(candidates) == 1:
        return candidates[0]
    if not candidates:
        raise ModelNotFoundError(f"no *{suffix} file in {name}")
    listed = ", ".join(p.name for p in candidates[:5])
    raise ModelNotFoundError(f"{name} holds several *{suffix} files ({listed}); name one of them")


def create_session(model: str | Path | bytes, *, device: str = "cpu", cpu_threads: int = 0) -> Any:
    """An ONNX Runtime session for a model file (or serialised model) on `device`
    ("cpu", "cuda" or "auto")."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.log_severity_level = 3
    if cpu_threads > 0:
        options.intra_op_num_threads = cpu_threads
        options.inter_op_num_threads = 1
    providers = execution_providers(device, what="speaker model")
    source = model if isinstance(model, bytes) else str(model)
    return ort.InferenceSession(source, sess_options=options, providers=providers)


def open_model(path: str | Path, *, device: str = "cpu", cpu_threads: int = 0) -> Any:
    """`create_session` for a user-supplied model file: a file ONNX Runtime cannot load is a
    ModelFormatError naming it (a bad `device` stays a ValueError)."""
    try:
        return create_session(path, device=device, cpu_threads=cpu_threads)
    except ValueError:
        raise
    except Exception as exc:
        raise ModelFormatError(f"{path}: not a loadable ONNX model: {exc}") from exc
