# syntax=docker/dockerfile:1
# Hark RunPod serverless worker: CTranslate2 + ONNX Runtime, no torch, model baked in.
#
#   docker build --platform linux/amd64 -f deploy/docker/runpod.Dockerfile \
#       --build-arg MODEL=large-v2 -t YOU/hark-runpod:large-v2 .
#
# Build from the repository root (the build context). See docs/runpod.md.

# CUDA 12 runtime with cuDNN 9, what CTranslate2 4.x wheels are built against. (The 4.8 wheel
# only loads cuBLAS 12: `--build-arg CUDA_IMAGE=nvidia/cuda:12.6.3-runtime-ubuntu24.04` saves
# ~0.9 GB of cuDNN with it; see docs/runpod.md.) The wheels are x86_64 only, hence the platform,
# also when building on an arm64 laptop.
ARG CUDA_IMAGE=nvidia/cuda:12.6.3-cudnn-runtime-ubuntu24.04
# hadolint ignore=DL3029
FROM --platform=linux/amd64 ${CUDA_IMAGE}

# Whisper model baked into the image: a name from `hark models list` or an HF repo id.
ARG MODEL=large-v2

ENV DEBIAN_FRONTEND=noninteractive \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# Ubuntu 24.04's Python 3.12; FFmpeg comes inside the PyAV wheel, so no codec packages.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends python3 python3-venv ca-certificates \
    && rm -rf /var/lib/apt/lists/*

RUN groupadd --gid 10001 hark \
    && useradd --create-home --uid 10001 --gid 10001 --shell /usr/sbin/nologin hark \
    && mkdir /models \
    && chown 10001:10001 /models

# The same install path as `make install`: scripts/install.sh VENV EXTRAS.
WORKDIR /opt/hark
COPY pyproject.toml README.md ./
COPY scripts/install.sh scripts/install.sh
COPY src/ src/
RUN PYTHON=python3 bash scripts/install.sh /opt/venv runpod \
    && rm -rf /root/.cache

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
