"""Build hook: the embedded speaker encoder's weights become part of the package.

Hark's default diarizer runs the GE2E encoder that Resemblyzer (Apache-2.0) publishes inside its
wheel as `resemblyzer/pretrained.pt`. That wheel cannot be a dependency (it requires torch), so
the build fetches it with pip, checks both checksums, and copies the weights and the licence into
`hark/diarize/assets/`. A plain `pip install hark` (or the built wheel) then diarizes offline.

Offline builds: set HARK_RESEMBLYZER_WHEEL to a local Resemblyzer-0.1.4-py3-none-any.whl.
Everything else is declared in pyproject.toml.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

RESEMBLYZER = "resemblyzer==0.1.4"
WHEEL_NAME = "Resemblyzer-0.1.4-py3-none-any.whl"
WHEEL_SHA256 = "8f12eb2f1a9982d32e8db7856de754709b59c93a77bcf0ff536584b619a9dd1f"
WEIGHTS_SHA256 = "39373b86598fa3da9fcddee6142382efe09777e8d37dc9c0561f41f0070f134e"
ASSETS = Path("hark", "diarize", "assets")
WEIGHTS = "ge2e_resemblyzer.pt"
LICENSE = "LICENSE.resemblyzer"


def _sha256(path: Path) -> str:
    with path.open("rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def _fetch_wheel(tmp: Path) -> Path:
    local = os.environ.get("HARK_RESEMBLYZER_WHEEL")
    if local:
        return Path(local)
    # pip itself, so the user's index, mirror and proxy settings apply.
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:"]
    cmd += ["--disable-pip-version-check", "-q", "-d", str(tmp), RESEMBLYZER]
    done = subprocess.run(cmd, capture_output=True, text=True)
    wheel = tmp / WHEEL_NAME
    if done.returncode != 0 or not wheel.is_file():
        raise SystemExit(
            f"hark build: could not download {RESEMBLYZER} (the default speaker encoder's "
            f"weights) with pip:\n{done.stderr.strip()}\nFor an offline build, download "
            f"{WHEEL_NAME} elsewhere and set HARK_RESEMBLYZER_WHEEL to its path."
        )
    return wheel


def bundle_speaker_weights(target: Path) -> None:
    """Put the checked GE2E weights and their licence in `target` (skipped when already there)."""
    weights = target / WEIGHTS
    if weights.is_file() and _sha256(weights) == WEIGHTS_SHA256 and (target / LICENSE).is_file():
        return
    target.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        wheel = _fetch_wheel(Path(tmp))
        if _sha256(wheel) != WHEEL_SHA256:
            raise SystemExit(f"hark build: {wheel} is not the {WHEEL_NAME} Hark pins (sha256)")
        with zipfile.ZipFile(wheel) as zf:
            partial = weights.with_suffix(".part")
            with zf.open("resemblyzer/pretrained.pt") as src, partial.open("wb") as dst:
                shutil.copyfileobj(src, dst)
            (target / LICENSE).write_bytes(zf.read("Resemblyzer-0.1.4.dist-info/LICENSE"))
    if _sha256(partial) != WEIGHTS_SHA256:
        partial.unlink()
        raise SystemExit("hark build: the Resemblyzer weights do not match the pinned sha256")
    partial.replace(weights)


class BuildPyWithWeights(build_py):
    def run(self) -> None:
        super().run()
        # Editable installs import from src/, so the weights go there (ignored by git).
        root = Path(__file__).parent / "src" if self.editable_mode else Path(self.build_lib)
        bundle_speaker_weights(root / ASSETS)


setup(cmdclass={"build_py": BuildPyWithWeights})
