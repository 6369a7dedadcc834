"""scripts/slim-venv.sh, which the images run on their venv: real wheels' files, offline.

A copy of the installed CTranslate2 and NumPy (and a package with a `tests` folder) stands in
for a venv; after slimming, the copies must still load and transcribe.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "scripts" / "slim-venv.sh"
PACKAGES = ("ctranslate2", "ctranslate2.libs", "numpy", "numpy.libs")


def installed(name: str) -> Path:
    import ctranslate2

    return Path(ctranslate2.__file__).parents[1] / name


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def has_symtab(path: Path) -> bool:
    out = subprocess.run(["readelf", "-S", str(path)], capture_output=True, text=True, check=True)
    return ".symtab" in out.stdout


@pytest.fixture(scope="module")
def slimmed(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    if not (shutil.which("strip") and shutil.which("readelf")):
        pytest.skip("binutils (strip, readelf) not installed")
    venv = tmp_path_factory.mktemp("venv")
    site = venv / "lib" / "python3.11" / "site-packages"
    for name in PACKAGES:
        if not installed(name).is_dir():
            pytest.skip(f"{name} is not laid out as a manylinux wheel here")
        shutil.copytree(installed(name), site / name, ignore=shutil.ignore_patterns("__pycache__"))
    (site / "fakepkg" / "tests").mkdir(parents=True)
    (site / "fakepkg" / "__init__.py").write_text("")
    (site / "fakepkg" / "tests" / "test_x.py").write_text("assert False\n")
    ext = next((site / "ctranslate2").glob("_ext*.so"))
    vendored = sorted((site / "numpy.libs").glob("*.so*")) + sorted(
        (site / "ctranslate2.libs").glob("*.so*")
    )
    before = {
        "ext": ext.stat().st_size,
        "ext_symtab": has_symtab(ext),
        "vendored": {p.name: digest(p) for p in vendored},
    }
    done = subprocess.run(["bash", str(SCRIPT), str(venv)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    return {"venv": venv, "site": site, "ext": ext, "vendored": vendored, "before": before}


def test_strips_extensions_and_leaves_vendored_libraries_alone(slimmed) -> None:
    before = slimmed["before"]
    ext = slimmed["ext"]
    if before["ext_symtab"]:
        assert ext.stat().st_size < before["ext"]
    assert not has_symtab(ext)
    # auditwheel's vendored libraries (patchelf-edited): strip can misalign them.
    assert {p.name: digest(p) for p in slimmed["vendored"]} == before["vendored"]
    assert not (slimmed["site"] / "fakepkg" / "tests").exists()
    assert (slimmed["site"] / "fakepkg" / "__init__.py").is_file()
    assert not (slimmed["site"] / "numpy" / "_core" / "tests").exists()


def test_slimmed_packages_still_transcribe(slimmed, test_models, shared_audio) -> None:
    """The stripped CTranslate2 and NumPy, first on the path, run a real transcription."""
    code = (
        "import ctranslate2, numpy, hark;"
        f"assert ctranslate2.__file__.startswith({str(slimmed['site'])!r});"
        f"assert numpy.__file__.startswith({str(slimmed['site'])!r});"
        f"p = hark.load_engine({str(test_models / 'whisper-tiny')!r}, device='cpu',"
        " compute_type='int8', cpu_threads=1);"
        f"r = p.transcribe({str(shared_audio / 'jfk.flac')!r}, language='en', align=False);"
        "assert r.segments and r.word_segments; print(len(r.word_segments))"
    )
    env = {"PYTHONPATH": str(slimmed["site"]), "PATH": "/usr/bin:/bin", "HARK_OFFLINE": "1"}
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert int(done.stdout.split()[-1]) > 0


def test_refuses_a_directory_without_site_packages(tmp_path) -> None:
    done = subprocess.run(["bash", str(SCRIPT), str(tmp_path)], capture_output=True, text=True)
    assert done.returncode == 1 and "no site-packages" in done.stderr
