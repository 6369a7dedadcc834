"""Start-up: the model loads in the background; /ready flips when it is done, and a model that
cannot load turns /health to 503 so that the orchestrator restarts the process."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

import hark.server.app as server_app
from hark.pipeline import load_pipeline
from hark.settings import Settings
from support_server import shared_server, wait_for


def test_ready_flips_when_the_model_is_loaded(
    test_models: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    release = threading.Event()

    def slow_load(**kwargs: Any) -> Any:
        release.wait(30)
        return load_pipeline(**kwargs)

    monkeypatch.setattr(server_app, "load_pipeline", slow_load)
    settings = Settings(model=str(test_models / "whisper-tiny"), device="cpu")
    with TestClient(server_app.create_app(settings)) as client:
        assert client.get("/health").status_code == 200
        loading = client.get("/ready")
        assert loading.status_code == 503
        assert loading.json()["error"]["code"] == "model_loading"
        busy = client.post("/asr", files={"file": ("a.wav", b"RIFF")})
        assert busy.status_code == 503 and "retry-after" in busy.headers
        assert "hark_model_ready 0.0" in client.get("/metrics").text
        release.set()
        wait_for(lambda: client.get("/ready").status_code == 200)
        assert "hark_model_ready 1.0" in client.get("/metrics").text


def test_model_that_fails_to_load(test_models: Path, tmp_path: Path) -> None:
    server = shared_server(
        "broken", test_models, env={"HARK_MODEL": str(tmp_path / "missing")}, wait_ready=False
    )
    deadline = time.monotonic() + 30
    with httpx.Client(base_url=server.url, timeout=5) as client:
        while client.get("/health").status_code == 200 and time.monotonic() < deadline:
            time.sleep(0.1)
        health = client.get("/health")
        ready = client.get("/ready")
    assert health.status_code == 503 and health.json()["error"]["code"] == "model_unavailable"
    assert "does not exist" in health.json()["error"]["message"]
    assert ready.status_code == 503
    server.stop()


@pytest.mark.parametrize("choice", ["auto", "short", "full"])
def test_the_finals_input_is_decided_when_the_model_loads(
    test_models: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    choice: str,
) -> None:
    """HARK_LIVE_FINAL_INPUT=auto on CPU times one real 30 s encoding of the loaded model at
    start-up and keeps the answer for every stream; `short` and `full` time nothing."""
    import logging

    import hark.server.streams as streams
    from hark.live.windows import FULL_INPUT_ENCODE_BUDGET_S, encode_seconds

    timings: list[float] = []

    def timed(asr: Any) -> float:
        timings.append(encode_seconds(asr))
        return timings[-1]

    monkeypatch.setattr(streams, "encode_seconds", timed)
    settings = Settings(model=str(test_models / "whisper-tiny"), device="cpu")
    settings = settings.model_copy(update={"live_final_input": choice})
    app = server_app.create_app(settings)
    with caplog.at_level(logging.INFO, logger="hark.server.streams"), TestClient(app) as client:
        wait_for(lambda: client.get("/ready").status_code == 200)
        full = app.state.hark.live_final_input.full
        said = client.get("/ready").json()["live"]
    assert said["final_input"] == ("full" if full else "short")
    if choice != "auto":
        assert timings == [] and full is (choice == "full")
        assert said["encode_30s_seconds"] is None
        return
    (took,) = timings
    assert 0 < took < 60 and full is (took <= FULL_INPUT_ENCODE_BUDGET_S)
    assert said["encode_30s_seconds"] == took
    assert "HARK_LIVE_FINAL_INPUT=auto: a 30 s encoding took" in caplog.text
