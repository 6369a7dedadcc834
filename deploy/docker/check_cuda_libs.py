"""Check, without a GPU, that the CUDA image's libraries can serve onnxruntime-gpu and CTranslate2.

    python deploy/docker/check_cuda_libs.py [--wheels DIR]

Reads the pinned versions from cuda.Dockerfile's build arguments, downloads those wheels
(`pip download --no-deps`, into DIR, reused when there), unpacks their shared objects and
checks that:
- every library onnxruntime-gpu's CUDA provider has as DT_NEEDED is installed;
- every symbol it imports from them, with its version tag, is exported by them. The provider
  is linked with BIND_NOW, so a missing one would stop it loading: this is the whole of what
  loading needs;
- every cuBLAS function CTranslate2 looks up by name (it dlopen()s libcublas.so.12) exists.
Run it by hand after changing a pin (it needs PyPI and Debian's binutils: readelf, nm); the
test suite checks the same names offline from recorded lists (tests/test_deploy_docker.py).
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tempfile
import zipfile
from importlib import metadata
from pathlib import Path

HERE = Path(__file__).resolve().parent
DRIVER = "libcuda.so.1"


def dockerfile_args(path: Path) -> dict[str, str]:
    text = re.sub(r"\\\n\s*", " ", path.read_text())
    return {
        m.group(1): m.group(2).strip('"')
        for m in re.finditer(r"^ARG (\w+)=(.*)$", text, re.MULTILINE)
    }


def download(specs: list[str], into: Path) -> list[Path]:
    into.mkdir(parents=True, exist_ok=True)
    wheels = []
    for spec in specs:
        name, _, version = spec.partition("==")
        prefix = f"{name.replace('-', '_')}-{version}-"
        found = sorted(into.glob(prefix + "*.whl"))
        if not found:
            subprocess.run(
                [sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--only-binary=:all:",
                 "--python-version", "3.11", "--platform", "manylinux_2_28_x86_64",
                 "--platform", "manylinux_2_27_x86_64", "--platform", "manylinux_2_17_x86_64",
                 "--platform", "manylinux2014_x86_64", "-d", str(into), spec],
                check=True,
            )  # fmt: skip
            found = sorted(into.glob(prefix + "*.whl"))
        if not found:
            raise SystemExit(f"no wheel for {spec} in {into}")
        wheels.append(found[0])
    return wheels


def unpack(wheel: Path, into: Path, pattern: str) -> list[Path]:
    with zipfile.ZipFile(wheel) as z:
        names = [n for n in z.namelist() if re.search(pattern, n)]
        z.extractall(into, names)
    return [into / n for n in names]


def tool(*args: str) -> str:
    return subprocess.run(args, check=True, capture_output=True, text=True).stdout


def needed(lib: Path) -> set[str]:
    return set(
        re.findall(r"\(NEEDED\)\s+Shared library: \[([^\]]+)\]", tool("readelf", "-d", str(lib)))
    )


def imported(lib: Path) -> set[str]:
    return {
        line.split()[-1] for line in tool("nm", "-D", "--undefined-only", str(lib)).splitlines()
    }


def exported(lib: Path) -> set[str]:
    out = set()
    for line in tool("nm", "-D", "--defined-only", str(lib)).splitlines():
        parts = line.split()
        if len(parts) == 3:
            out.add(parts[2].replace("@@", "@"))
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--wheels", type=Path, default=Path(tempfile.gettempdir()) / "hark-cuda-wheels"
    )
    args = parser.parse_args()
    pins = dockerfile_args(HERE / "cuda.Dockerfile")
    ort = f"onnxruntime-gpu=={pins['ONNXRUNTIME_GPU_VERSION']}"
    cuda = pins["CTRANSLATE2_CUDA_WHEELS"].split() + pins["ONNXRUNTIME_CUDA_WHEELS"].split()
    print("checking", ort, "with", " ".join(cuda))
    work = Path(tempfile.mkdtemp(prefix="hark-cuda-check-"))
    (ort_wheel,) = download([ort], args.wheels)
    (provider,) = unpack(ort_wheel, work, r"libonnxruntime_providers_cuda\.so$")
    libs = {}
    for wheel in download(cuda, args.wheels):
        for path in unpack(wheel, work, r"nvidia/[^/]+/lib/lib[^/]+\.so[.\d]*$"):
            libs[path.name] = path
    problems = []

    provider_needs = needed(provider)
    cuda_needs = {n for n in provider_needs if n.startswith(("libcu", "libnv")) and n != DRIVER}
    absent = sorted(cuda_needs - set(libs))
    problems += [f"onnxruntime-gpu needs {n}, not installed" for n in absent]
    sonames = provider_needs & set(libs)
    available = set().union(*(exported(libs[n]) for n in sonames))
    wanted = {s for s in imported(provider) if s.partition("@")[2] in sonames}
    problems += [f"onnxruntime-gpu imports {s}, not exported" for s in sorted(wanted - available)]
    print(f"onnxruntime-gpu CUDA provider: {len(wanted)} symbols from {', '.join(sorted(sonames))}")

    ct2 = [Path(str(f.locate())) for f in metadata.files("ctranslate2") or () if ".so" in f.name]
    cublas_calls = set()
    for path in ct2:
        cublas_calls |= {
            m.decode() for m in re.findall(rb"\bcublas[A-Za-z0-9_]+\b", path.read_bytes())
        }
    cublas = {s.partition("@")[0] for s in exported(libs["libcublas.so.12"])}
    calls = {c for c in cublas_calls if not c.startswith("cublasStatus") and "_t" not in c}
    calls = {c for c in calls if c[6:7].isupper()}  # API functions: cublasCreate_v2, ...
    problems += [f"CTranslate2 looks up {c}, not in libcublas" for c in sorted(calls - cublas)]
    print(f"CTranslate2 {metadata.version('ctranslate2')}: {len(calls)} cuBLAS functions")

    for problem in problems:
        print("PROBLEM:", problem)
    print("OK" if not problems else f"{len(problems)} problems")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
