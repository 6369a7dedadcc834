"""Fresh installs, as a new user makes them: no dev venv, no extra step.

- The wheel built from a clean copy of the source (no generated files) carries the default
  speaker encoder's weights and licence, and diarizes offline in a fresh venv, there with the
  oldest PyAV that pyproject.toml declares.
- Plain `pip install .` into a fresh venv of every *other* CPython >= 3.11 found on the machine
  (each pulls the newest releases its dependencies allow there, e.g. PyAV 19 on 3.12+), then:
  transcribe a shared file with `--diarize`, serve one `/asr` request, run one job.

An interpreter that is found but cannot make a venv or install fails the test: a broken Python
on the machine is a finding, not a reason to skip.
"""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
import subprocess
import sys
import time
import tomllib
import zipfile
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from support_server import (
    free_port,
    http_probe,
    start_process,
    stop_process,
    wait_until_ready,
)

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
WEIGHTS = "hark/diarize/assets/ge2e_resemblyzer.pt"
# Random weights may stop at once: forbid end-of-text and cap the length, so there are words
# for the speakers to land on.
DECODE = {"language": "en", "beam_size": 1, "temperature": 0, "max_new_tokens": 8}
SUPPRESS = [-1, 50257]


def _version(python: Path) -> tuple[int, int] | None:
    """(major, minor) of a CPython, None for another implementation; raises if it is broken."""
    out = subprocess.run(
        [str(python), "-c", "import sys; print(sys.implementation.name, *sys.version_info[:2])"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    if out.returncode != 0:
        raise RuntimeError(f"{python} does not run: {out.stderr.strip()}")
    name, major, minor = out.stdout.split()
    return (int(major), int(minor)) if name == "cpython" else None


def other_pythons() -> dict[str, Path]:
    """Every CPython >= 3.11 on PATH or under pyenv, one per minor version, but this one's."""
    candidates = [shutil.which(f"python3.{minor}") for minor in range(11, 30)]
    pyenv = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv")) / "versions"
    candidates += sorted(str(p) for p in pyenv.glob("*/bin/python3"))
    found: dict[str, Path] = {}
    for candidate in filter(None, candidates):
        if "/shims/" in candidate:
            continue  # pyenv's launchers, not interpreters: the versions/ below are looked at
        python = Path(candidate).resolve()
        match = re.search(r"python3\.(\d+)$", candidate) or re.search(r"/3\.(\d+)\.", candidate)
        if match and int(match.group(1)) < 11:
            continue  # an old Python is never asked: it is not supported, broken or not
        try:
            version = _version(python)
        except (RuntimeError, subprocess.TimeoutExpired) as e:
            found[f"broken:{python}"] = python
            print(e)
            continue
        if version and version >= (3, 11) and version != sys.version_info[:2]:
            found.setdefault(f"{version[0]}.{version[1]}", python)
    return found


OTHERS = other_pythons()
OLDEST_AV = next(
    re.sub(r"^av>=", "", d)
    for d in tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    if d.startswith("av>=")
)


def run(cmd: list[str], *, env: dict[str, str] | None = None, timeout: float = 900) -> str:
    done = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=timeout)
    assert done.returncode == 0, f"{' '.join(cmd)} failed:\n{done.stdout[-3000:]}\n{done.stderr}"
    return done.stdout


def clean_env() -> dict[str, str]:
    """The user's environment without this dev venv on any path, and offline for models."""
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in {"PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME"} and not k.startswith("HARK_")
    }
    env["PATH"] = os.pathsep.join(
        p for p in env.get("PATH", "").split(os.pathsep) if not p.startswith(sys.prefix)
    )
    return {**env, "HF_HUB_OFFLINE": "1", "HARK_OFFLINE": "1", "HARK_CPU_THREADS": "1"}


def fresh_venv(python: Path, where: Path, *install: str) -> Path:
    """A new venv of `python` with `install` pip-installed into it; returns its bin/."""
    run([str(python), "-m", "venv", str(where)], env=clean_env(), timeout=300)
    bin_dir = where / "bin"
    # --no-compile: byte-compiling every dependency is most of an install's CPU time, and
    # Python compiles what it imports anyway.
    pip = [str(bin_dir / "python"), "-m", "pip", "install", "-q", "--no-compile"]
    run([*pip, *install], env=clean_env())
    return bin_dir


@pytest.fixture(scope="module")
def clean_source(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tracked files only, as a fresh clone has them (no weights fetched yet)."""
    dest = tmp_path_factory.mktemp("source") / "hark"
    files = run(["git", "-C", str(ROOT), "ls-files", "-z"]).split("\0")
    for name in filter(None, files):
        if (ROOT / name).is_file():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, dest / name)
    assert not (dest / "src" / WEIGHTS).exists()
    return dest


@pytest.fixture(scope="module")
def wheel(clean_source: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    pip = [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps"]
    run([*pip, "-w", str(out), str(clean_source)])
    (built,) = out.glob("hark-*.whl")
    return built


@pytest.fixture(scope="module")
def venvs(
    wheel: Path, clean_source: Path, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, Future[Path]]:
    """Every fresh venv of this module, installed at the same time (pip waits mostly on I/O):
    "wheel" has the built wheel on this Python, each other version has `pip install .`."""
    root = tmp_path_factory.mktemp("venvs")
    # The wheel's venv gets the oldest PyAV Hark declares; the others get the newest there is.
    jobs = {"wheel": (Path(sys.executable), [str(wheel), f"av=={OLDEST_AV}"])}
    jobs |= {v: (python, [str(clean_source)]) for v, python in OTHERS.items() if ":" not in v}
    pool = ThreadPoolExecutor(len(jobs))
    futures = {
        name: pool.submit(fresh_venv, python, root / name, *install)
        for name, (python, install) in jobs.items()
    }
    pool.shutdown(wait=False)
    return futures


def transcribe_diarized(bin_dir: Path, audio: Path, model: Path, out: Path) -> dict:
    args = [str(bin_dir / "hark"), "transcribe", str(audio), "-o", str(out), "-f", "json,rttm"]
    args += ["--model", str(model), "--diarize", "--num-speakers", "2"]
    args += ["--suppress-tokens", ",".join(map(str, SUPPRESS))]
    for key, value in DECODE.items():
        args += [f"--{key.replace('_', '-')}", str(value)]
    run(args, env=clean_env(), timeout=600)
    result = json.loads((out / f"{audio.stem}.json").read_text())
    speakers = {w.get("speaker") for w in result["word_segments"]}
    assert result["word_segments"] and None not in speakers, result["word_segments"][:3]
    rttm = (out / f"{audio.stem}.rttm").read_text().splitlines()
    assert rttm and all(line.startswith("SPEAKER ") for line in rttm)
    return result


def test_the_wheel_bundles_the_speaker_encoder_and_its_licence(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as zf:
        names = set(zf.namelist())
        assert WEIGHTS in names
        assert "hark/diarize/assets/LICENSE.resemblyzer" in names
        assert "Apache License" in zf.read("hark/diarize/assets/LICENSE.resemblyzer").decode()
        assert zf.getinfo(WEIGHTS).file_size == 17_090_379
        assert not [n for n in names if n.startswith(("torch/", "resemblyzer/"))]


def test_the_built_wheel_diarizes_offline_in_a_fresh_venv(
    venvs: dict[str, Future[Path]], test_models: Path, shared_audio: Path, tmp_path: Path
) -> None:
    bin_dir = venvs["wheel"].result()
    listed = run([str(bin_dir / "python"), "-m", "pip", "list", "--format=freeze"])
    assert not re.search(r"^(torch|resemblyzer)==", listed, re.I | re.M), listed
    assert re.search(rf"^av=={re.escape(OLDEST_AV)}(\.0)*$", listed, re.M), listed
    sample = shared_audio / "pyannote" / "sample.wav"
    result = transcribe_diarized(bin_dir, sample, test_models / "whisper-tiny", tmp_path)
    assert len({w["speaker"] for w in result["word_segments"]}) == 2


@pytest.mark.parametrize("version", sorted(OTHERS) or ["none"])
def test_pip_install_on_every_other_python(
    version: str,
    venvs: dict[str, Future[Path]],
    test_models: Path,
    shared_audio: Path,
    tmp_path: Path,
) -> None:
    if version == "none":
        pytest.skip("no CPython >= 3.11 besides this one on this machine")
    assert not version.startswith("broken:"), f"{OTHERS[version]} is found but does not run"
    bin_dir = venvs[version].result()
    versions = run([str(bin_dir / "python"), "-m", "pip", "list", "--format=freeze"])
    picked = re.findall(r"^(?:av|ctranslate2|numpy)==\S+", versions, re.M)
    print(f"Python {version}:", *picked)

    model = test_models / "whisper-tiny"
    transcribe_diarized(bin_dir, shared_audio / "pyannote" / "sample.wav", model, tmp_path)

    port = free_port()
    env = {**clean_env(), "HARK_DATA_DIR": str(tmp_path / "data")}
    log = tmp_path / "serve.log"
    cmd = [str(bin_dir / "hark"), "serve", "--host", "127.0.0.1", "--port", str(port)]
    server = start_process([*cmd, "--model", str(model)], env=env, log_path=log)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_ready(server, http_probe(f"{url}/ready"), log_path=log, timeout=120)
        jfk = (shared_audio / "jfk.flac").read_bytes()
        with httpx.Client(base_url=url, timeout=120, trust_env=False) as client:
            params = {**DECODE, "suppress_tokens": ",".join(map(str, SUPPRESS))}
            asr = client.post("/asr", params=params, files={"audio_file": ("jfk.flac", jfk)})
            assert asr.status_code == 200, asr.text
            assert asr.json()["language"] == "en" and asr.json()["segments"], asr.text

            job = {"audio_base_64": base64.b64encode(jfk).decode(), **DECODE}
            submitted = client.post("/run", json={"input": {**job, "suppress_tokens": SUPPRESS}})
            assert submitted.status_code == 200, submitted.text
            job_id = submitted.json()["id"]
            deadline = time.monotonic() + 120
            while (status := client.get(f"/status/{job_id}").json())["status"] in (
                "IN_QUEUE",
                "IN_PROGRESS",
            ):
                assert time.monotonic() < deadline, status
                time.sleep(0.2)
            assert status["status"] == "COMPLETED", status
            assert status["output"]["segments"], status
    finally:
        stop_process(server)
