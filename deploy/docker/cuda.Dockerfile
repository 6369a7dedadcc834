# syntax=docker/dockerfile:1
# Hark HTTP API, NVIDIA GPU image: `hark serve` on port 9080. CTranslate2 on CUDA 12, ONNX
# Runtime with its CUDA provider (onnxruntime-gpu) for VAD, alignment and diarization; no torch.
#
#   docker build --platform linux/amd64 -f deploy/docker/cuda.Dockerfile -t YOU/hark:cuda .
#   docker run --rm --gpus all -p 9080:9080 -v hark-models:/models YOU/hark:cuda
#
# Build from the repository root (the build context). See docs/deploy.md.
# Bake a model in: --build-arg MODEL=large-v3 --build-arg BAKE_MODEL=true

# A slim Python base plus only the CUDA libraries Hark loads, from NVIDIA's own PyPI wheels
# (docs/deploy.md#cuda-libraries says which and why). The GPU driver (libcuda.so.1) is not in
# the image: the NVIDIA container toolkit mounts the host's. The full NVIDIA base instead:
#   --build-arg BASE_IMAGE=nvidia/cuda:12.8.1-cudnn-runtime-ubuntu24.04 --build-arg CUDA_LIBS=system
# Both stages use BASE_IMAGE: the venv links to the base's interpreter. x86_64 only (the
# CTranslate2 and onnxruntime-gpu CUDA wheels), hence the platform.
ARG BASE_IMAGE=python:3.11-slim-bookworm

# ---- build: the venv, made by the same script as `make install` / `make serve`
# hadolint ignore=DL3029
FROM --platform=linux/amd64 ${BASE_IMAGE} AS build

ARG MODEL=large-v3
ARG BAKE_MODEL=false
# onnxruntime-gpu in place of onnxruntime: 1.26.0 is the last PyPI release built for CUDA 12
# (1.27+ load libcublas.so.13 and need a CUDA 13 driver). Empty: keep the CPU onnxruntime (VAD,
# alignment and diarization on the CPU) and install cuBLAS only, the smallest GPU image.
ARG ONNXRUNTIME_GPU_VERSION=1.26.0
# wheels: the NVIDIA wheels below, into the venv. system: the base image has CUDA (nvidia/cuda).
ARG CUDA_LIBS=wheels
# What CTranslate2 4.x loads: libcublas.so.12 (+ libcublasLt.so.12, which it needs). The CUDA
# 12.6 libraries (cuBLAS 0.27 GB and cuDNN 0.18 GB smaller than 12.8's) run every GPU up to
# Hopper (A100, H100); for Blackwell (sm_100/sm_120) build with the 12.8 set instead:
#   --build-arg CTRANSLATE2_CUDA_WHEELS=nvidia-cublas-cu12==12.8.4.1
#   --build-arg ONNXRUNTIME_CUDA_WHEELS="nvidia-cuda-runtime-cu12==12.8.90
#     nvidia-curand-cu12==10.3.9.90 nvidia-cufft-cu12==11.3.3.83 nvidia-cudnn-cu12==9.10.2.21"
ARG CTRANSLATE2_CUDA_WHEELS="nvidia-cublas-cu12==12.6.4.1"
# What onnxruntime-gpu 1.26's CUDA provider links: cuBLAS (above), cudart, cuRAND, cuFFT and
# cuDNN 9. It is a CUDA 12.8 build that accepts any CUDA 12 / cuDNN 9 (its `cuda` extra asks
# for ~=12.0 / ~=9.0): cudart is its own 12.8, and every symbol it imports from cuBLAS 12.6 and
# cuDNN 9.5 is there (deploy/docker/check_cuda_libs.py).
ARG ONNXRUNTIME_CUDA_WHEELS="nvidia-cuda-runtime-cu12==12.8.90 nvidia-curand-cu12==10.3.7.77 nvidia-cufft-cu12==11.3.0.4 nvidia-cudnn-cu12==9.5.1.17"

ENV DEBIAN_FRONTEND=noninteractive \
    PYTHONDONTWRITEBYTECODE=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# The slim base has Python; an nvidia/cuda (Ubuntu) base gets Ubuntu's. FFmpeg comes inside
# the PyAV wheel, so no codec packages. binutils (strip, readelf) for scripts/slim-venv.sh.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends binutils \
    && if ! command -v python3 >/dev/null; then \
        apt-get install -y --no-install-recommends python3 python3-venv ca-certificates; \
    fi \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /opt/hark
COPY pyproject.toml setup.py README.md LICENSE THIRD_PARTY_NOTICES.md ./
COPY scripts/install.sh scripts/slim-venv.sh scripts/
COPY src/ src/
RUN PYTHON=python3 bash scripts/install.sh /opt/venv \
    && rm -rf /root/.cache

# onnxruntime and onnxruntime-gpu both install the module `onnxruntime`, so they cannot live
# side by side (the second overwrites the first's files and uninstalling either breaks the
# other). Hark depends on the CPU wheel; here it is swapped for the GPU wheel, whose
# dependencies (numpy, protobuf, flatbuffers, packaging) are already installed.
RUN if [ -n "${ONNXRUNTIME_GPU_VERSION}" ]; then \
        /opt/venv/bin/python -m pip uninstall -y -q onnxruntime \
        && /opt/venv/bin/python -m pip install -q --no-deps "onnxruntime-gpu==${ONNXRUNTIME_GPU_VERSION}" \
        && /opt/venv/bin/python -c "import onnxruntime as o; assert 'CUDAExecutionProvider' in o.get_available_providers()"; \
    fi

# The CUDA libraries as wheels (site-packages/nvidia/*/lib), and the list of their directories
# for the runtime stage's loader configuration (empty with CUDA_LIBS=system).
# hadolint ignore=SC2086
RUN if [ "${CUDA_LIBS}" = "wheels" ]; then \
        wheels="${CTRANSLATE2_CUDA_WHEELS}"; \
        if [ -n "${ONNXRUNTIME_GPU_VERSION}" ]; then wheels="${wheels} ${ONNXRUNTIME_CUDA_WHEELS}"; fi; \
        /opt/venv/bin/python -m pip install -q --no-deps ${wheels}; \
    fi \
    && find /opt/venv -path '*/site-packages/nvidia/*/lib' -type d > /opt/venv/nvidia-libs.conf

# Debug symbols and bundled test suites out of the venv (~170 MB). The NVIDIA and
# onnxruntime-gpu libraries come stripped and are left exactly as they are.
RUN bash scripts/slim-venv.sh /opt/venv

RUN mkdir -p /models /data \
    && if [ "${BAKE_MODEL}" = "true" ]; then \
        /opt/venv/bin/hark models download "${MODEL}" --download-root /models; \
    fi

# ---- runtime: the same base, the venv (CUDA libraries inside) and the source it is installed from
# hadolint ignore=DL3029
FROM --platform=linux/amd64 ${BASE_IMAGE}

ARG MODEL=large-v3
ARG ONNXRUNTIME_GPU_VERSION=1.26.0
# Library names the build must make loadable (CTranslate2's, then onnxruntime-gpu's).
ARG CUDA_SONAMES="libcublas.so.12 libcublasLt.so.12"
ARG ONNXRUNTIME_CUDA_SONAMES="libcudart.so.12 libcurand.so.10 libcufft.so.11 libcudnn.so.9"

ENV DEBIAN_FRONTEND=noninteractive

# The interpreter only (the venv is built), when the base has none.
# hadolint ignore=DL3008
RUN if ! command -v python3 >/dev/null; then \
        apt-get update \
        && apt-get install -y --no-install-recommends python3 ca-certificates \
        && rm -rf /var/lib/apt/lists/*; \
    fi \
    && groupadd --gid 10001 hark \
    && useradd --no-create-home --home-dir /nonexistent --uid 10001 --gid 10001 \
        --shell /usr/sbin/nologin hark

COPY --from=build /opt/venv /opt/venv
COPY --from=build /opt/hark /opt/hark
COPY --from=build --chown=10001:10001 /models /models
COPY --from=build --chown=10001:10001 /data /data

# The loader finds the wheels' libraries through ld.so.cache: CTranslate2 dlopen()s
# "libcublas.so.12" by name and onnxruntime-gpu's CUDA provider has them as DT_NEEDED, and
# neither looks in site-packages/nvidia on Linux. (The container toolkit's ldconfig hook keeps
# /etc/ld.so.conf.d.) The build fails here if a library either needs is missing.
RUN ln -s /opt/venv/nvidia-libs.conf /etc/ld.so.conf.d/zz-hark-nvidia.conf \
    && ldconfig \
    && ldconfig -p > /tmp/ld.so.cache.txt \
    && sonames="${CUDA_SONAMES}" \
    && if [ -n "${ONNXRUNTIME_GPU_VERSION}" ]; then sonames="${sonames} ${ONNXRUNTIME_CUDA_SONAMES}"; fi \
    && for lib in ${sonames}; do \
        grep -q "[[:space:]]${lib} (" /tmp/ld.so.cache.txt || { echo "missing CUDA library ${lib}" >&2; exit 1; }; \
    done \
    && rm /tmp/ld.so.cache.txt

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
