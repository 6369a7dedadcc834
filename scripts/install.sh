#!/usr/bin/env bash
# One install path for `make test`, `make serve` and the container images:
#   scripts/install.sh VENV_DIR [EXTRAS]
# System packages first (only when missing and when we can install them), then the venv.
set -euo pipefail
venv=${1:-.venv}
extras=${2:-}
here=$(cd "$(dirname "$0")/.." && pwd)

# Debian packages: none for the runtime (PyAV bundles FFmpeg); the test suite (extras "dev")
# drives a real browser and checks metrics with promtool.
apt_packages=()
case ",$extras," in *,dev,*) apt_packages+=(chromium prometheus redis-server binutils) ;; esac
missing=()
for p in "${apt_packages[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}"
  else
    echo "warning: missing system packages: ${missing[*]} (install them as root)" >&2
  fi
fi

python=${PYTHON:-python3}
[ -x "$venv/bin/python" ] || "$python" -m venv "$venv"
"$venv/bin/python" -m pip install -q --upgrade pip
spec="$here"
[ -n "$extras" ] && spec="$here[$extras]"
"$venv/bin/python" -m pip install -q -e "$spec"
# The test suite also checks `hark models convert-aligner` (the `convert` extra, the only code
# allowed to use torch). Pin torch to the CPU build first, so the unpinned extra does not pull
# a multi-GB CUDA build.
case ",$extras," in
  *,dev,*)
    "$venv/bin/python" -m pip install -q "torch==2.13.0"
    "$venv/bin/python" -m pip install -q -e "$here[convert]"
    ;;
esac
