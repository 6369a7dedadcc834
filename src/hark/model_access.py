"""Which models a request may name: the operator's, never an arbitrary path on the server.

`align_model`, `diarize_model` and `embedding_model` are per-request options. On a server (HTTP,
jobs, RunPod worker) they accept only:

- the built-in names (`resemblyzer` / `ge2e` for the embedding model);
- a name in `HARK_ALLOWED_MODELS` (the operator's list of paths or Hugging Face ids, used as
  written);
- the name of an entry of `HARK_MODELS_DIR` (one path component: `my-aligner`, not a path),
  which becomes that entry's path;
- a Hugging Face id (`owner/name`) when `HARK_ALLOW_MODEL_DOWNLOADS` is on and downloads are
  not disabled (`HARK_LOCAL_FILES_ONLY`, offline mode).

Anything else is refused with one message that neither depends on whether such a file exists
nor repeats the value, so a caller learns nothing about the server's files.
The Python API and the CLI are not limited: whoever runs them already owns the machine.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING

from hark.model_files import offline_mode

if TYPE_CHECKING:
    from hark.options import TranscribeOptions
    from hark.settings import Settings

MODEL_OPTIONS = ("align_model", "diarize_model", "embedding_model")
BUILT_IN: dict[str, frozenset[str]] = {"embedding_model": frozenset({"resemblyzer", "ge2e"})}

# One path component, not hidden, no separators: an entry of HARK_MODELS_DIR.
_DIR_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
# owner/name as the Hugging Face Hub spells repository ids.
_HF_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,95}/[A-Za-z0-9][A-Za-z0-9_.-]{0,95}")


class ModelNotAllowed(ValueError):
    """A request named a model the operator did not make available."""

    def __init__(self, field: str) -> None:
        super().__init__(
            f"{field}: not a model this server offers; use a name from the server's models "
            "directory or allow-list (HARK_MODELS_DIR, HARK_ALLOWED_MODELS)"
        )
        self.field = field


def allowed_model(field: str, value: str | None, settings: Settings) -> str | None:
    """What the pipeline should load for `value` of option `field`; ModelNotAllowed when the
    operator did not make it available."""
    if value is None:
        return None
    if value.lower() in BUILT_IN.get(field, frozenset()):
        return value
    if value in settings.allowed_models:
        return value
    root = settings.models_dir
    if root is not None and _DIR_NAME.fullmatch(value) and ".." not in value:
        entry = Path(root).expanduser() / value
        if entry.exists():
            return str(entry)
    if _downloads_allowed(settings) and _HF_ID.fullmatch(value) and ".." not in value:
        return value
    raise ModelNotAllowed(field)


def allowed_models(options: TranscribeOptions, settings: Settings) -> TranscribeOptions:
    """`options` with every model option checked (and HARK_MODELS_DIR names made paths)."""
    update = {}
    for field in MODEL_OPTIONS:
        value = getattr(options, field)
        resolved = allowed_model(field, value, settings)
        if resolved != value:
            update[field] = resolved
    return options.model_copy(update=update) if update else options


def _downloads_allowed(settings: Settings) -> bool:
    return settings.allow_model_downloads and not settings.local_files_only and not offline_mode()
