"""/docs renders in headless Chromium from the server's own files (no internet needed)."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from support_server import CHROMIUM, Server, launch_chromium
from test_server_asr import main_server


@pytest.fixture(scope="module")
def server(test_models: Path) -> Server:
    return main_server(test_models)


def test_openapi_documents_every_route(server: Server) -> None:
    spec = httpx.get(f"{server.url}/openapi.json", timeout=10).json()
    routes = {
        "/asr": "post",
        "/detect-language": "post",
        "/v1/audio/transcriptions": "post",
        "/v1/audio/translations": "post",
        "/v1/models": "get",
        "/health": "get",
        "/ready": "get",
        "/metrics": "get",
    }
    for path, method in routes.items():
        operation = spec["paths"][path][method]
        assert operation["summary"] and operation.get("description"), path
    asr = spec["paths"]["/asr"]["post"]
    params = {p["name"] for p in asr["parameters"]}
    assert {"output", "language", "beam_size", "max_line_width", "compute_type"} <= params
    form = asr["requestBody"]["content"]["multipart/form-data"]["schema"]["properties"]
    assert {"file", "audio_file", "audio_url", "vad_onset"} <= set(form)
    assert "application/json" in asr["requestBody"]["content"]
    examples = asr["responses"]["200"]["content"]
    assert {"application/json", "text/vtt", "application/x-subrip"} <= set(examples)
    assert "bearer" in str(spec["components"]["securitySchemes"]).lower()


def test_swagger_ui_renders_offline(server: Server) -> None:
    sync_api = pytest.importorskip("playwright.sync_api")
    if not CHROMIUM.exists():
        pytest.skip("chromium is not installed")
    hosts: set[str] = set()
    with sync_api.sync_playwright() as pw:
        browser = launch_chromium(pw)
        try:
            page = browser.new_page()
            page.on("request", lambda request: hosts.add(urlsplit(request.url).hostname or ""))
            page.goto(f"{server.url}/docs", wait_until="networkidle")
            page.wait_for_selector(".opblock", timeout=30_000)
            text = page.inner_text("#swagger-ui")
        finally:
            browser.close()
    for path in ("/asr", "/detect-language", "/v1/audio/transcriptions", "/metrics"):
        assert path in text
    assert hosts == {"127.0.0.1"}
    assert httpx.get(f"{server.url}/static/swagger/LICENSE", timeout=10).status_code == 200
