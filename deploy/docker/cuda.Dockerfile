# syntax=docker/dockerfile:1
# Hark HTTP API, NVIDIA GPU image: `hark serve` on port 9080. CTranslate2 on CUDA 12 + cuDNN 9,
# ONNX Runtime with its CUDA provider (onnxruntime-gpu) for VAD, alignment and diarization;
# no torch.
#
#   docker build --platform linux/amd64 -f deploy/docker/cuda.Dockerfile -t YOU/hark:cuda .
#   docker run --rm --gpus all -p 9080:9080 -v hark-models:/models YOU/hark:cuda
#
# Build from the repository root (the build context). See docs/deploy.md.
# Bake a model in: --build-arg MODEL=large-v3 --build-arg BAKE_MODEL=true

# CUDA 12 runtime with cuDNN 9: what CTranslate2 4.x and onnxruntime-gpu 1.2x+/1.3x (CUDA 12
# builds, the PyPI default) are built against. The wheels are x86_64 only, hence the platform.
ARG CUDA_IMAGE=nvidia/cuda:12.6.3-cudnn-runtime-ubuntu24.04
# The build stage only needs the same Python at the same path (/usr/bin/python3.12), not CUDA.
ARG BUILD_IMAGE=ubuntu:24.04

# ---- build: the venv, made by the same script as `make install` / `make serve`
# hadolint ignore=DL3029
FROM --platform=linux/amd64 ${BUILD_IMAGE} AS build

ARG MODEL=large-v3
ARG BAKE_MODEL=false
# onnxruntime-gpu version; empty: the same version as the onnxruntime that Hark resolved.
ARG ONNXRUNTIME_GPU_VERSION=

ENV DEBIAN_FRONTEND=noninteractive \
    PYTHONDONTWRITEBYTECODE=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# Ubuntu 24.04's Python 3.12; FFmpeg comes inside the PyAV wheel, so no codec packages.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends python3 python3-venv ca-certificates \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /opt/hark
COPY pyproject.toml README.md ./
COPY scripts/install.sh scripts/install.sh
COPY src/ src/
RUN PYTHON=python3 bash scripts/install.sh /opt/venv \
    && rm -rf /root/.cache

# onnxruntime and onnxruntime-gpu both install the module `onnxruntime`, so they cannot live
# side by side (the second overwrites the first's files and uninstalling either breaks the
# other). Hark depends on the CPU wheel; here it is swapped for the GPU wheel of the same
# version, whose dependencies are the same and already installed.
RUN ort="${ONNXRUNTIME_GPU_VERSION:-$(/opt/venv/bin/python -c 'import importlib.metadata as m; print(m.version("onnxruntime"))')}" \
    && /opt/venv/bin/python -m pip uninstall -y -q onnxruntime \
    && /opt/venv/bin/python -m pip install -q --no-deps "onnxruntime-gpu==${ort}" \
    && /opt/venv/bin/python -c "import onnxruntime as o; assert 'CUDAExecutionProvider' in o.get_available_providers()"

RUN mkdir -p /models /data \
    && if [ "${BAKE_MODEL}" = "true" ]; then \
        /opt/venv/bin/hark models download "${MODEL}" --download-root /models; \
    fi

# ---- runtime: CUDA + cuDNN, Python, the venv and the source it is installed from
# hadolint ignore=DL3029
FROM --platform=linux/amd64 ${CUDA_IMAGE}

ARG MODEL=large-v3

ENV DEBIAN_FRONTEND=noninteractive

# The interpreter only (the venv is built); the same package as the build stage's.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends python3 ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --gid 10001 hark \
    && useradd --no-create-home --home-dir /nonexistent --uid 10001 --gid 10001 \
        --shell /usr/sbin/nologin hark

COPY --from=build /opt/venv /opt/venv
COPY --from=build /opt/hark /opt/hark
COPY --from=build --chown=10001:10001 /models /models
COPY --from=build --chown=10001:10001 /data /data

ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    HARK_MODEL=${MODEL} \
    HARK_HOST=0.0.0.0 \
    HARK_PORT=9080 \
    HARK_DOWNLOAD_ROOT=/models \
    HARK_CACHE_DIR=/models/hark \
    HARK_DATA_DIR=/data \
    HF_HOME=/models/huggingface \
    HF_HUB_DISABLE_TELEMETRY=1

USER 10001:10001
WORKDIR /tmp
VOLUME ["/models", "/data"]
EXPOSE 9080

HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["/opt/venv/bin/python", "-c", "import os, urllib.request as u; u.urlopen('http://127.0.0.1:%s/health' % os.environ.get('HARK_PORT', '9080'), timeout=4)"]

ENTRYPOINT ["hark", "serve"]
