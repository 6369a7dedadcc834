"""The web page at `/`, driven in headless Chromium against a real `hark serve` process.

The server is the real app (`hark.server.app:create_app` under uvicorn on 127.0.0.1) with the
random-weight whisper-tiny test model: nonsense words, real timestamps. Decoding options that
keep it quick are passed the way a user could: as query parameters of the page URL, which
preset the page's "Advanced options" fields.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import re
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

pytest.importorskip("playwright.sync_api")
from playwright.sync_api import Browser, Page, Playwright, sync_playwright

import support_server
from support_server import CHROMIUM, free_port, http_probe, launch_chromium, running_process

# support_server.FAST with a longer cap (the page's views need a few words).
FAST = {**support_server.FAST, "max_new_tokens": "16"}
LOCAL_HOSTS = {"127.0.0.1", "localhost"}
TIMEOUT_MS = 120_000

pytestmark = pytest.mark.skipif(not CHROMIUM.is_file(), reason=f"no Chromium at {CHROMIUM}")


# ---------------------------------------------------------------------------- server


@contextlib.contextmanager
def _start_server(models: Path, log_path: Path, **env: str) -> Iterator[str]:
    port = free_port()
    environ = {
        **os.environ,
        "HARK_MODEL": str(models / "whisper-tiny"),
        "HARK_DEVICE": "cpu",
        "HARK_COMPUTE_TYPE": "int8",
        "HARK_CPU_THREADS": "2",
        "HARK_LOCAL_FILES_ONLY": "true",
        "HARK_LOG_LEVEL": "warning",
        **env,
    }
    command = [
        sys.executable,
        "-m",
        "uvicorn",
        "--factory",
        "hark.server.app:create_app",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--log-level",
        "warning",
    ]
    base = f"http://127.0.0.1:{port}"
    with running_process(
        command,
        env=environ,
        log_path=log_path,
        ready=http_probe(f"{base}/ready"),
        timeout=180,
        interval=0.2,
    ):
        yield base


@pytest.fixture(scope="module")
def server(test_models: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with _start_server(test_models, tmp_path_factory.mktemp("ui-server") / "server.log") as base:
        yield base


@pytest.fixture(scope="module")
def playwright() -> Iterator[Playwright]:
    with sync_playwright() as p:
        yield p


@pytest.fixture(scope="module")
def browser(playwright: Playwright) -> Iterator[Browser]:
    browser = launch_chromium(playwright)
    yield browser
    browser.close()


class Tracker:
    """Every URL the page asks for; requests to other hosts are refused and remembered."""

    def __init__(self) -> None:
        self.urls: list[str] = []
        self.foreign: list[str] = []

    def foreign_hosts(self) -> list[str]:
        return self.foreign + [
            u
            for u in self.urls
            if u.startswith(("http:", "https:", "ws:", "wss:"))
            and urlsplit(u).hostname not in LOCAL_HOSTS
        ]


def _open(browser: Browser, url: str, **context_args: Any) -> tuple[Page, Tracker]:
    context = browser.new_context(accept_downloads=True, **context_args)
    tracker = Tracker()

    def guard(route: Any) -> None:
        request_url = route.request.url
        if urlsplit(request_url).hostname in LOCAL_HOSTS:
            route.continue_()
        else:
            tracker.foreign.append(request_url)
            route.abort()

    context.route("**/*", guard)
    context.on("request", lambda request: tracker.urls.append(request.url))
    page = context.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    page.goto(url)
    page.wait_for_selector("body[data-ready=true]")
    return page, tracker


def _fast_url(base: str, **extra: str) -> str:
    query = "&".join(f"{k}={v}" for k, v in {**FAST, **extra}.items())
    return f"{base}/?{query}"


def _transcribe(page: Page, path: Path) -> None:
    page.set_input_files("#file-input", str(path))
    page.click("#transcribe-button")


def _api_all(base: str, path: Path, **headers: str) -> httpx.Response:
    with path.open("rb") as f:
        return httpx.post(
            f"{base}/asr",
            files={"file": (path.name, f)},
            data={**FAST, "output": "all"},
            headers=headers,
            timeout=120,
        )


# ---------------------------------------------------------------------------- tests


def test_page_is_served_with_local_assets_only(server: str) -> None:
    page = httpx.get(f"{server}/")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert "default-src 'self'" in page.headers["content-security-policy"]
    # Every src/href in the page is relative (works behind a path prefix, never a CDN).
    for ref in re.findall(r'(?:src|href)="([^"]+)"', page.text):
        assert not re.match(r"^(?:[a-z]+:)?//", ref), ref
    for name, kind in [("app.js", "javascript"), ("app.css", "css"), ("icon.svg", "svg")]:
        response = httpx.get(f"{server}/ui/{name}")
        assert response.status_code == 200 and kind in response.headers["content-type"]
        assert response.content
        again = httpx.get(
            f"{server}/ui/{name}", headers={"If-None-Match": response.headers["etag"]}
        )
        assert again.status_code == 304
    for bad in ["nope.js", "..%2Fapp.py", ".hidden.js", "index.py"]:
        assert httpx.get(f"{server}/ui/{bad}").status_code == 404
    config = httpx.get(f"{server}/ui/config.json").json()
    assert "en" in config["languages"] and config["auth"] is False
    schema = httpx.get(f"{server}/openapi.json").json()
    assert "/" not in schema["paths"] and not any(p.startswith("/ui") for p in schema["paths"])


def test_transcribe_play_and_download(
    server: str, browser: Browser, shared_audio: Path, tmp_path: Path
) -> None:
    jfk = shared_audio / "jfk.flac"
    page, tracker = _open(browser, _fast_url(server), viewport={"width": 1280, "height": 900})

    # URL parameters preset the advanced fields that are sent with the upload.
    assert page.locator("#advanced").get_attribute("open") is not None
    assert page.input_value("#max_new_tokens") == "16"
    assert page.input_value("#suppress_tokens") == "-1,50257"
    assert page.input_value("#language") == "en"
    assert page.is_disabled("#transcribe-button")

    page.set_input_files("#file-input", str(jfk))
    assert page.get_attribute("#player", "src").startswith("blob:")
    assert "jfk.flac" in page.text_content("#file-name")
    page.evaluate(
        """() => {
            window.statuses = [];
            const status = document.getElementById("status-text");
            new MutationObserver(() => window.statuses.push(status.textContent)).observe(
                status, { childList: true, characterData: true, subtree: true });
        }"""
    )
    with page.expect_request(re.compile(r"/asr$")) as request_info:
        page.click("#transcribe-button")
    body = request_info.value.post_data_buffer or b""
    for name, value in [*FAST.items(), ("output", "all")]:
        assert re.search(rf'name="{name}"\r\n\r\n{re.escape(value)}\r\n'.encode(), body), name
    assert b'filename="jfk.flac"' in body

    # Progress: upload, then "Transcribing… <elapsed> s" while the server works, then "Done".
    page.wait_for_selector("#transcript .segment")
    statuses = page.evaluate("window.statuses")
    assert statuses[0].startswith("Uploading"), statuses
    assert any(re.fullmatch(r"Transcribing… \d+\.\d s", s) for s in statuses), statuses
    assert statuses[-1].startswith("Done in"), statuses
    assert page.text_content("#status-announce") == statuses[-1]  # for screen readers
    assert page.is_hidden("#error")
    assert page.get_attribute("#upload-progress", "value") == "100"

    # Transcript: segments with timestamps, words carrying their times.
    stamps = page.locator("#transcript .timestamp").all_text_contents()
    assert stamps and all(re.fullmatch(r"\d\d:\d\d\.\d\d – \d\d:\d\d\.\d\d", s) for s in stamps)
    words = page.eval_on_selector_all(
        "#transcript .word[data-start]",
        "els => els.map(e => [e.textContent, +e.dataset.start, +e.dataset.end])",
    )
    assert len(words) >= 3
    assert all(0 <= start <= end <= 11.1 for _, start, end in words)
    summary = page.text_content("#summary")
    assert "English" in summary and "Duration: 00:11" in summary

    # The result matches what the API itself answers for the same upload and options.
    api = _api_all(server, jfk)
    assert api.status_code == 200
    outputs = api.json()
    result = outputs["json"] if isinstance(outputs["json"], dict) else json.loads(outputs["json"])
    api_words = [w for s in result["segments"] for w in s["words"]]
    assert [(w["start"], w["end"]) for w in api_words] == [(s, e) for _, s, e in words]

    # Playback: the highlighted word is the one whose [start, end] holds currentTime.
    _wait(page, "document.getElementById('player').readyState >= 1")
    assert page.evaluate("document.getElementById('player').duration") == pytest.approx(11, abs=0.1)
    target = len(words) // 2
    _, start, end = words[target]
    t = (start + end) / 2
    page.evaluate("t => { document.getElementById('player').currentTime = t; }", t)
    page.wait_for_function(
        "t => { const w = document.querySelector('.word.current');"
        " return w && +w.dataset.start <= t && t <= +w.dataset.end; }",
        arg=t,
    )
    current = page.locator(".word.current")
    assert current.count() == 1
    assert (
        float(current.get_attribute("data-start")) <= t <= float(current.get_attribute("data-end"))
    )
    assert current.get_attribute("aria-current") == "true"

    # Clicking a word seeks the audio to its start and highlights it.
    other = page.locator("#transcript .word[data-start]").nth(1)
    other.click()
    other_start = float(other.get_attribute("data-start"))
    assert page.evaluate("document.getElementById('player').currentTime") == pytest.approx(
        other_start, abs=0.01
    )
    _wait(page, "document.querySelector('.word.current')?.dataset.index === '1'")
    # Keyboard: the focused word moves with the arrow keys, Enter seeks there.
    page.keyboard.press("ArrowRight")
    page.keyboard.press("Enter")
    _wait(page, "document.querySelector('.word.current')?.dataset.index === '2'")
    assert page.evaluate("document.activeElement.dataset.index") == "2"

    _screenshot(page, tmp_path, "ui-desktop.png")

    # Downloads: one link per format, each the server's own rendering.
    links = page.locator("#download-list a")
    formats = links.evaluate_all("els => els.map(e => e.dataset.format)")
    assert formats == ["json", "txt", "tsv", "srt", "vtt"]
    for index, fmt in enumerate(formats):
        with page.expect_download() as download_info:
            links.nth(index).click()
        download = download_info.value
        assert download.suggested_filename == f"jfk.{fmt}"
        target_path = tmp_path / download.suggested_filename
        download.save_as(target_path)
        text = target_path.read_text(encoding="utf-8")
        assert text.strip(), fmt
        expected = outputs[fmt]
        if isinstance(expected, str):
            assert text == expected, fmt
        else:
            assert json.loads(text) == expected, fmt
        _check_format(fmt, text)

    assert tracker.foreign_hosts() == []
    assert any(u.endswith("/ui/app.js") for u in tracker.urls)
    page.context.close()


def test_api_error_is_shown(server: str, browser: Browser, tmp_path: Path) -> None:
    notes = tmp_path / "notes.txt"
    notes.write_text("this is not audio\n" * 20)
    with notes.open("rb") as f:
        api = httpx.post(f"{server}/asr", files={"file": ("notes.txt", f)}, timeout=60)
    assert 400 <= api.status_code < 500
    error = api.json()["error"]

    page, tracker = _open(browser, _fast_url(server), viewport={"width": 390, "height": 844})
    _transcribe(page, notes)
    page.wait_for_selector("#error:not([hidden])")
    assert page.text_content("#error-message") == error["message"]
    title = page.text_content("#error-title")
    assert str(api.status_code) in title and error["code"] in title
    assert page.is_hidden("#transcript")
    assert page.is_enabled("#transcribe-button")  # ready to try again
    _screenshot(page, tmp_path, "ui-error-mobile.png")
    assert tracker.foreign_hosts() == []
    page.context.close()


def test_drop_a_file_and_see_speakers(
    server: str, browser: Browser, shared_audio: Path, tmp_path: Path
) -> None:
    """A dropped file; speaker labels as a diarizing server returns them (the answer is the
    real one, split into speakers in the page's network layer: this build has no diarization).
    Dark colour scheme."""
    jfk = shared_audio / "jfk.flac"
    outputs = _api_all(server, jfk).json()
    words = [w for s in outputs["json"]["segments"] for w in s["words"]]
    half = len(words) // 2
    segments = []
    for label, part in [("SPEAKER_00", words[:half]), ("SPEAKER_01", words[half:])]:
        part = [{**w, "speaker": label} for w in part]
        text = " ".join(w["word"] for w in part)
        segments.append(
            {
                "start": part[0]["start"],
                "end": part[-1]["end"],
                "text": text,
                "speaker": label,
                "words": part,
            }
        )
    segments[1]["words"][0]["speaker"] = "SPEAKER_02"  # one word by someone else
    outputs["json"]["segments"] = segments
    outputs["rttm"] = "SPEAKER jfk 1 0.120 5.000 <NA> <NA> SPEAKER_00 <NA> <NA>\n"

    page, tracker = _open(
        browser, _fast_url(server), color_scheme="dark", viewport={"width": 1100, "height": 800}
    )
    page.route(re.compile(r"/asr$"), lambda route: route.fulfill(status=200, json=outputs))
    data = base64.b64encode(jfk.read_bytes()).decode()
    drop = page.evaluate_handle(
        """data => {
            const bytes = Uint8Array.from(atob(data), (c) => c.charCodeAt(0));
            const transfer = new DataTransfer();
            transfer.items.add(new File([bytes], "jfk.flac", { type: "audio/flac" }));
            return transfer;
        }""",
        data,
    )
    page.dispatch_event("#dropzone", "dragenter", {"dataTransfer": drop})
    assert "dragging" in (page.get_attribute("#dropzone", "class") or "")
    page.dispatch_event("#dropzone", "drop", {"dataTransfer": drop})
    assert "jfk.flac" in page.text_content("#file-name")
    page.click("#transcribe-button")
    page.wait_for_selector("#transcript .segment")
    _wait(page, "$('player').readyState >= 1")
    page.locator("#transcript .word[data-start]").nth(half).click()
    chips = page.locator("#speakers .speaker")
    assert chips.all_text_contents() == ["SPEAKER_00", "SPEAKER_01", "SPEAKER_02"]
    colours = chips.evaluate_all("els => els.map(e => getComputedStyle(e).backgroundColor)")
    assert len(set(colours)) == 3
    heads = page.locator("#transcript .segment .speaker").all_text_contents()
    assert heads == ["SPEAKER_00", "SPEAKER_01"]
    second = page.locator("#transcript .segment").nth(1)
    assert "spk-1" in (second.get_attribute("class") or "").split()
    other = page.locator("#transcript .word.other-speaker")
    assert other.count() == 1 and "SPEAKER_02" in (other.get_attribute("title") or "")
    formats = page.locator("#download-list a").evaluate_all("els => els.map(e => e.dataset.format)")
    assert formats == ["json", "txt", "tsv", "srt", "vtt", "rttm"]
    _screenshot(page, tmp_path, "ui-speakers-dark.png")
    assert tracker.foreign_hosts() == []
    page.context.close()


def test_api_key(test_models: Path, browser: Browser, shared_audio: Path, tmp_path: Path) -> None:
    """With HARK_API_KEYS set the page asks for a key and sends it as a bearer token."""
    log = tmp_path / "server.log"
    with _start_server(test_models, log, HARK_API_KEYS="s3cret-key") as base:
        assert httpx.get(f"{base}/ui/config.json").json()["auth"] is True
        page, _ = _open(browser, _fast_url(base))
        assert page.is_visible("#api-key")
        _transcribe(page, shared_audio / "jfk.flac")
        page.wait_for_selector("#error:not([hidden])")
        assert "401" in page.text_content("#error-title")
        assert "API key" in page.text_content("#error-message")
        assert page.evaluate("document.activeElement.id") == "api-key"

        page.fill("#api-key", "s3cret-key")
        with page.expect_request(re.compile(r"/asr$")) as request_info:
            page.click("#transcribe-button")
        assert request_info.value.headers["authorization"] == "Bearer s3cret-key"
        page.wait_for_selector("#transcript .segment")
        assert page.is_hidden("#error")
        # The key is kept for this tab: a reload does not ask again.
        page.reload()
        page.wait_for_selector("body[data-ready=true]")
        assert page.input_value("#api-key") == "s3cret-key"
        page.context.close()


def test_record_from_microphone(server: str, playwright: Playwright) -> None:
    """A fake microphone (Chromium's test tone) is recorded, uploaded as WebM and transcribed."""
    browser = launch_chromium(
        playwright, "--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream"
    )
    try:
        page, tracker = _open(browser, _fast_url(server))
        page.click("#record-button")
        _wait(page, "document.getElementById('record-button').ariaPressed === 'true'")
        assert page.is_disabled("#transcribe-button")
        _wait(page, "document.getElementById('record-time').textContent >= '00:02'")
        page.click("#record-button")
        _wait(page, r"/^recording-.*\.(webm|ogg)/.test($('file-name').textContent)")
        assert page.get_attribute("#player", "src").startswith("blob:")
        page.click("#transcribe-button")
        _wait(page, "$('status-text').textContent.startsWith('Done') || !$('error').hidden")
        assert page.is_hidden("#error"), page.text_content("#error")
        assert "Duration: 00:0" in page.text_content("#summary")
        assert page.locator("#download-list a").count() >= 5
        assert tracker.foreign_hosts() == []
    finally:
        browser.close()


# ---------------------------------------------------------------------------- helpers


def _wait(page: Page, expression: str, arg: Any = None) -> None:
    """Wait until a JS expression is truthy (`$` is getElementById).

    Passed as a function: the page's CSP forbids the eval Playwright uses for bare expressions.
    """
    page.wait_for_function(
        f"arg => {{ const $ = (id) => document.getElementById(id); return ({expression}); }}",
        arg=arg,
    )


def _screenshot(page: Page, tmp_path: Path, name: str) -> None:
    """A full-page screenshot, for a person to look at (HARK_UI_SCREENSHOTS=dir keeps them)."""
    directory = Path(os.environ.get("HARK_UI_SCREENSHOTS", tmp_path))
    directory.mkdir(parents=True, exist_ok=True)
    page.evaluate("window.scrollTo(0, 0)")  # the sticky player would float mid-page otherwise
    page.screenshot(path=str(directory / name), full_page=True)


def _check_format(fmt: str, text: str) -> None:
    if fmt == "json":
        assert json.loads(text)["segments"]
    elif fmt == "tsv":
        assert text.splitlines()[0].split("\t")[:3] == ["start", "end", "text"]
    elif fmt == "srt":
        assert text.startswith("1\n")
        assert re.search(r"\d\d:\d\d:\d\d,\d{3} --> \d\d:\d\d:\d\d,\d{3}", text)
    elif fmt == "vtt":
        assert text.startswith("WEBVTT")
        assert re.search(r"\d\d:\d\d\.\d{3} --> \d\d:\d\d:?\d*\.?\d*", text)
    elif fmt == "txt":
        assert "-->" not in text and "\t" not in text
