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
    from hark.dev.test_models import ensure_test_models

    ensure_test_models(TEST_MODELS_DIR)
    return TEST_MODELS_DIR
