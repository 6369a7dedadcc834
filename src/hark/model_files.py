"""Where models come from: names, Hugging Face repo ids, local directories, caches, offline mode.

A Whisper model is a CTranslate2 directory (`model.bin`, `config.json`, `tokenizer.json`, ...).
`resolve_whisper_model` turns what the user wrote into such a directory, downloading only
when allowed and failing with a message that says exactly how to get the model otherwise.
"""

from __future__ import annotations

import os
from pathlib import Path

WHISPER_MODELS: dict[str, str] = {
    "tiny": "Systran/faster-whisper-tiny",
    "tiny.en": "Systran/faster-whisper-tiny.en",
    "base": "Systran/faster-whisper-base",
    "base.en": "Systran/faster-whisper-base.en",
    "small": "Systran/faster-whisper-small",
    "small.en": "Systran/faster-whisper-small.en",
    "medium": "Systran/faster-whisper-medium",
    "medium.en": "Systran/faster-whisper-medium.en",
    "large-v1": "Systran/faster-whisper-large-v1",
    "large-v2": "Systran/faster-whisper-large-v2",
    "large-v3": "Systran/faster-whisper-large-v3",
    "large": "Systran/faster-whisper-large-v3",
    "large-v3-turbo": "mobiuslabsgmbh/faster-whisper-large-v3-turbo",
    "turbo": "mobiuslabsgmbh/faster-whisper-large-v3-turbo",
    "distil-small.en": "Systran/faster-distil-whisper-small.en",
    "distil-medium.en": "Systran/faster-distil-whisper-medium.en",
    "distil-large-v2": "Systran/faster-distil-whisper-large-v2",
    "distil-large-v3": "Systran/faster-distil-whisper-large-v3",
    "distil-large-v3.5": "distil-whisper/distil-large-v3.5-ct2",
}
"""Model names accepted by `--model`, and the CTranslate2 repos they come from."""

_WHISPER_FILES = [
    "config.json",
    "preprocessor_config.json",
    "model.bin",
    "tokenizer.json",
    "vocabulary.*",
]


class ModelError(RuntimeError):
    """A model could not be found, fetched or loaded. The message says what to do."""

    code = "model_error"


class ModelNotFoundError(ModelError):
    code = "model_not_found"


class ModelNotCachedError(ModelNotFoundError):
    """Not in the local cache, and downloads are disabled (offline mode)."""


def offline_mode() -> bool:
    """True when downloads are disabled for the whole process (HF_HUB_OFFLINE / HARK_OFFLINE)."""
    truthy = {"1", "true", "yes", "on"}
    return any(os.environ.get(v, "").lower() in truthy for v in ("HF_HUB_OFFLINE", "HARK_OFFLINE"))


def whisper_repo_id(name: str) -> str:
    """The Hugging Face repo of a model name, or the name itself when it is already a repo id."""
    if name in WHISPER_MODELS:
        return WHISPER_MODELS[name]
    if "/" in name:
        return name
    raise ModelNotFoundError(
        f"Unknown Whisper model {name!r}. Use one of {', '.join(WHISPER_MODELS)}, "
        "a Hugging Face repo id of a CTranslate2 model (owner/name), or a local directory."
    )


def resolve_whisper_model(
    model: str | os.PathLike[str],
    *,
    download_root: str | os.PathLike[str] | None = None,
    local_files_only: bool = False,
    revision: str | None = None,
) -> Path:
    """Return the local directory of a CTranslate2 Whisper model, fetching it if allowed."""
    path = Path(model).expanduser()
    if path.is_dir():
        if not (path / "model.bin").is_file():
            raise ModelNotFoundError(
                f"{path} is not a CTranslate2 Whisper model: model.bin is missing. Convert a "
                "Transformers checkpoint with `ct2-transformers-converter --model ID "
                f"--output_dir {path} --copy_files tokenizer.json preprocessor_config.json`."
            )
        return path
    if str(model).startswith((".", "/", "~")) or (
        os.sep in str(model) and not _looks_like_repo(model)
    ):
        raise ModelNotFoundError(f"Model directory {path} does not exist.")

    name = str(model)
    repo_id = whisper_repo_id(name)
    root_flag = f" --download-root {download_root}" if download_root else ""
    return snapshot(
        repo_id,
        label=f"Whisper model {name!r}" + (f" ({repo_id})" if repo_id != name else ""),
        allow_patterns=_WHISPER_FILES,
        cache_dir=download_root,
        local_files_only=local_files_only or offline_mode(),
        revision=revision,
        fetch_hint=f"hark models download {name}{root_flag}",
    )


def _looks_like_repo(model: str | os.PathLike[str]) -> bool:
    parts = str(model).split("/")
    return len(parts) == 2 and all(parts)


def snapshot(
    repo_id: str,
    *,
    label: str,
    allow_patterns: list[str],
    cache_dir: str | os.PathLike[str] | None,
    local_files_only: bool,
    revision: str | None = None,
    fetch_hint: str,
) -> Path:
    """The local snapshot of a Hugging Face repo's files matching `allow_patterns`.

    Found in `cache_dir` (default: the Hugging Face cache), else downloaded unless
    `local_files_only`. Failures raise with a message naming the model by `label` and telling
    to run `fetch_hint` (a shell command) where there is internet:
    ModelNotCachedError (a ModelNotFoundError) when it is not cached and downloads are off,
    ModelNotFoundError when the repo or revision does not exist, ModelError when the download
    fails; each chained from the huggingface_hub error.
    """
    import huggingface_hub
    from huggingface_hub import errors as hf_errors

    try:
        return Path(
            huggingface_hub.snapshot_download(
                repo_id,
                allow_patterns=allow_patterns,
                cache_dir=str(cache_dir) if cache_dir else None,
                local_files_only=local_files_only,
                revision=revision,
            )
        )
    except hf_errors.LocalEntryNotFoundError as exc:
        where = cache_dir or "the Hugging Face cache"
        raise ModelNotCachedError(
            f"{label} is not in {where} and downloads are disabled (offline mode). "
            f"Fetch it where there is internet with `{fetch_hint}` "
            f"(or `hf download {repo_id}`), copy the cache here, or pass a local model directory."
        ) from exc
    except (hf_errors.RepositoryNotFoundError, hf_errors.RevisionNotFoundError) as exc:
        raise ModelNotFoundError(
            f"{label}: repository {repo_id!r} (revision {revision or 'main'}) was not found on "
            "the Hugging Face Hub. Check the name, or pass HF_TOKEN for a private repo."
        ) from exc
    except (OSError, hf_errors.HfHubHTTPError) as exc:
        raise ModelError(
            f"{label} could not be downloaded from the Hugging Face Hub ({exc}). "
            f"Check the network, or fetch it elsewhere with `{fetch_hint}`."
        ) from exc
