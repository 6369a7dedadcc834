"""Worker configuration, from the environment of the RunPod endpoint (or a laptop).

The `HARK_*` settings (`hark.settings.Settings`) apply as everywhere else. The plain `DEVICE`
and `COMPUTE_TYPE` variables that WhisperX worker templates use are honoured too, so
`DEVICE=cpu COMPUTE_TYPE=int8` runs the worker without a GPU; `HARK_DEVICE` /
`HARK_COMPUTE_TYPE` win when both are set. Worker-only knobs are `HARK_RUNPOD_*`.
"""

from __future__ import annotations

import os

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from hark.settings import Settings

# Plain variable -> Settings field, for users of existing WhisperX worker images.
PLAIN_ALIASES = {"DEVICE": "device", "COMPUTE_TYPE": "compute_type"}


class RunpodSettings(BaseSettings):
    """`HARK_RUNPOD_CONCURRENCY`, `HARK_RUNPOD_PROGRESS_INTERVAL_S`."""

    model_config = SettingsConfigDict(env_prefix="HARK_RUNPOD_", env_file=None, extra="ignore")

    concurrency: int = Field(
        1,
        ge=1,
        le=64,
        description="Jobs one worker runs at once; raise it on GPUs with memory to spare.",
    )
    progress_interval_s: float = Field(
        10.0,
        ge=0,
        description="Least seconds between progress updates; jobs shorter than this send none.",
    )


def hark_settings() -> Settings:
    """`Settings` from the environment, with `DEVICE` / `COMPUTE_TYPE` as fallbacks."""
    # pydantic-settings matches names case-insensitively; so do the fallbacks.
    upper = {k.upper(): v for k, v in os.environ.items()}
    fallbacks = {
        field: upper[plain]
        for plain, field in PLAIN_ALIASES.items()
        if upper.get(plain) and f"HARK_{field.upper()}" not in upper
    }
    return Settings(**fallbacks)  # type: ignore[arg-type]
