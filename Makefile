# Everything a fresh machine needs is installed by these targets themselves.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# `make serve` needs the runtime and the fixture builder (onnx) only, not the test tooling
# (torch for the converter tests, browsers, ...).
SERVE_STAMP := $(VENV)/.installed-serve
TEST_MODELS := .cache/test-models
HOST ?= 0.0.0.0
PORT ?= 9080

.PHONY: install test lint serve test-models bench clean

$(STAMP): pyproject.toml setup.py scripts/install.sh
	bash scripts/install.sh $(VENV) dev
	touch $@

$(SERVE_STAMP): pyproject.toml setup.py scripts/install.sh
	bash scripts/install.sh $(VENV) testing
	touch $@

install: $(STAMP)

lint: install
	$(BIN)/ruff check src tests bench setup.py
	$(BIN)/ruff format --check src tests bench setup.py

test: install lint
	$(BIN)/pytest

test-models: $(SERVE_STAMP)
	$(BIN)/hark dev make-test-models $(TEST_MODELS)

# The HTTP API on $(HOST):$(PORT). The generated test model needs no network; use a real one
# with e.g. `make serve HARK_MODEL=small` (every HARK_* variable is read by `hark serve`).
HARK_MODEL ?= $(TEST_MODELS)/whisper-tiny
serve: $(SERVE_STAMP) test-models
	$(BIN)/hark serve --host $(HOST) --port $(PORT) --model $(HARK_MODEL)

bench: install test-models
	$(BIN)/python bench/asr.py

clean:
	rm -rf $(VENV) .cache out
