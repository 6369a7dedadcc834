# syntax=docker/dockerfile:1
# Hark RunPod serverless worker: CTranslate2 + ONNX Runtime, no torch, model baked in.
#
#   docker build --platform linux/amd64 -f deploy/docker/runpod.Dockerfile \
#       --build-arg MODEL=large-v2 -t YOU/hark-runpod:large-v2 .
#
# Build from the repository root (the build context). See docs/runpod.md.

# A slim Python base plus the one CUDA library the worker loads: CTranslate2 4.x dlopen()s
# libcublas.so.12 (which needs libcublasLt.so.12, in the same wheel), from NVIDIA's PyPI wheel.
# No cuDNN: CTranslate2 4.8 does not load it, and the worker keeps the CPU build of ONNX
# Runtime. The GPU driver (libcuda.so.1) comes from the host. See docs/runpod.md#image-size.
# The full NVIDIA base instead:
#   --build-arg BASE_IMAGE=nvidia/cuda:12.8.1-runtime-ubuntu24.04 --build-arg CUDA_LIBS=system
# The CTranslate2 CUDA wheels are x86_64 only, hence the platform, also when building on an
# arm64 laptop.
ARG BASE_IMAGE=python:3.11-slim-bookworm
# hadolint ignore=DL3029
FROM --platform=linux/amd64 ${BASE_IMAGE}

# Whisper model baked into the image: a name from `hark models list` or an HF repo id.
ARG MODEL=large-v2
# wheels: the NVIDIA wheels below, into the venv. system: the base image has CUDA (nvidia/cuda).
ARG CUDA_LIBS=wheels
ARG CTRANSLATE2_CUDA_WHEELS="nvidia-cublas-cu12==12.8.4.1"
# Library names the build must make loadable.
ARG CUDA_SONAMES="libcublas.so.12 libcublasLt.so.12"

ENV DEBIAN_FRONTEND=noninteractive \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# The slim base has Python; an nvidia/cuda (Ubuntu) base gets Ubuntu's. FFmpeg comes inside
# the PyAV wheel, so no codec packages.
# hadolint ignore=DL3008
RUN if ! command -v python3 >/dev/null; then \
        apt-get update \
        && apt-get install -y --no-install-recommends python3 python3-venv ca-certificates \
        && rm -rf /var/lib/apt/lists/*; \
    fi

RUN groupadd --gid 10001 hark \
    && useradd --create-home --uid 10001 --gid 10001 --shell /usr/sbin/nologin hark \
    && mkdir /models \
    && chown 10001:10001 /models

# The same install path as `make install`: scripts/install.sh VENV EXTRAS.
WORKDIR /opt/hark
COPY pyproject.toml setup.py README.md LICENSE THIRD_PARTY_NOTICES.md ./
COPY scripts/install.sh scripts/slim-venv.sh scripts/
COPY src/ src/
# One layer: a later layer cannot shrink this one. slim-venv.sh drops the venv's debug
# symbols and bundled test suites (~170 MB) with binutils, which goes again.
# hadolint ignore=DL3008
RUN PYTHON=python3 bash scripts/install.sh /opt/venv runpod \
    && apt-get update \
    && apt-get install -y --no-install-recommends binutils \
    && bash scripts/slim-venv.sh /opt/venv \
    && apt-get purge -y --auto-remove binutils \
    && rm -rf /var/lib/apt/lists/* /root/.cache

# cuBLAS from NVIDIA's wheel into the venv (site-packages/nvidia/cublas/lib), made visible to
# the loader through ld.so.cache: CTranslate2 dlopen()s "libcublas.so.12" by name and does not
# look in site-packages on Linux. (The container toolkit's ldconfig hook keeps
# /etc/ld.so.conf.d.) The build fails here if a library CTranslate2 needs is missing.
# hadolint ignore=SC2086
RUN if [ "${CUDA_LIBS}" = "wheels" ]; then \
        /opt/venv/bin/python -m pip install -q --no-deps ${CTRANSLATE2_CUDA_WHEELS}; \
    fi \
    && find /opt/venv -path '*/site-packages/nvidia/*/lib' -type d > /etc/ld.so.conf.d/zz-hark-nvidia.conf \
    && ldconfig \
    && ldconfig -p > /tmp/ld.so.cache.txt \
    && for lib in ${CUDA_SONAMES}; do \
        grep -q "[[:space:]]${lib} (" /tmp/ld.so.cache.txt || { echo "missing CUDA library ${lib}" >&2; exit 1; }; \
    done \
    && rm /tmp/ld.so.cache.txt

ENV PATH=/opt/venv/bin:$PATH \
    HARK_MODEL=${MODEL} \
    HARK_DOWNLOAD_ROOT=/models \
    HF_HUB_DISABLE_TELEMETRY=1

# Download as the runtime user (hark, numeric so hosts need not resolve the name), so the
# cache is readable without a second, chown-ed copy of the model.
USER 10001:10001
RUN hark models download "${MODEL}" --download-root /models

# Jobs never download: the model above is the only one this worker uses. INFO, because the
# SDK's default DEBUG log prints every job's input, base64 audio included.
# DEVICE / COMPUTE_TYPE (or HARK_DEVICE / HARK_COMPUTE_TYPE) are left to the endpoint;
# setting HARK_DEVICE here would override the plain DEVICE that WhisperX users set.
ENV HARK_LOCAL_FILES_ONLY=true \
    HF_HUB_OFFLINE=1 \
    RUNPOD_LOG_LEVEL=INFO

WORKDIR /app
COPY deploy/runpod/main.py deploy/runpod/test_input.json ./

CMD ["python", "-u", "main.py"]
