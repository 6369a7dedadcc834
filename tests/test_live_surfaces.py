"""Live transcription's surfaces end to end against one real `hark serve` (`GET /v1/listen`):
the web page's Live mode in headless Chromium with a fake microphone playing shared speech,
`hark stream` (a file and stdin) as a real process, and `hark.client_live`.

The server runs the random-weight whisper-tiny test model (nonsense words, real timing) with
API keys on, so every surface also proves its way of sending the key: the page a WebSocket
subprotocol, the client a bearer header, the CLI `HARK_API_KEY`. One server serves every test
here (HARK_LIVE_MAX_STREAMS=2 makes the refusal test cheap).
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import subprocess
import sys
import wave
from pathlib import Path
from typing import Any
from urllib.parse import quote

import numpy as np
import pytest

from hark.client_live import AsyncLiveClient, Done, Final, LiveError, Ready, listen
from helpers import FIXED
from support_server import CHROMIUM, Server, shared_server, wav_bytes

KEY = "live-key_1"
# Decoding options that keep the random-weight model quick and wordy (as the /asr tests).
FAST = {"language": "en", **FIXED, "max_new_tokens": 8}
SRT_CUE = re.compile(r"\d+\n\d\d:\d\d:\d\d,\d{3} --> \d\d:\d\d:\d\d,\d{3}\n")


@pytest.fixture(scope="module")
def server(test_models: Path) -> Server:
    return shared_server(
        "live-surfaces",
        test_models,
        env={"HARK_API_KEYS": KEY, "HARK_LIVE_MAX_STREAMS": "2", "HARK_CPU_THREADS": "2"},
        headers={"Authorization": f"Bearer {KEY}"},
    )


@pytest.fixture(scope="module")
def speech(shared_audio: Path) -> np.ndarray:
    """jfk.flac (11 s, with pauses between its phrases) as 16 kHz float32."""
    from hark.audio import load_audio

    return load_audio(shared_audio / "jfk.flac")


def pcm(samples: np.ndarray) -> bytes:
    return (np.clip(samples, -1, 1) * 32767).astype("<i2").tobytes()


def fetch(server: Server, session_id: str, output: str) -> str:
    with server.client() as http:
        response = http.get(f"/v1/listen/{session_id}", params={"output": output})
    assert response.status_code == 200, response.text
    return response.text


# ---------------------------------------------------------------------------- client


def test_client_streams_and_fetches_subtitles(server: Server, speech: np.ndarray) -> None:
    async def session() -> tuple[Ready, list[Any], Done, str]:
        async with listen(server.url, KEY, **FAST) as live:
            assert live.ready is not None
            data = pcm(speech[: 6 * 16000])  # two phrases and the pause between them
            for start in range(0, len(data), 32_000):  # 1 s per message, as fast as it goes
                await live.send(data[start : start + 32_000])
            await live.end()
            events = [event async for event in live]
            assert live.done is not None
            return live.ready, events, live.done, await live.subtitles("vtt")

    ready, events, done, vtt = asyncio.run(asyncio.wait_for(session(), 120))
    assert ready.session_id and ready.sample_rate == 16000
    finals = [e for e in events if isinstance(e, Final)]
    assert finals and isinstance(events[-1], Done)
    assert [f.id for f in finals] == sorted(f.id for f in finals if f.id is not None)
    for final in finals:  # committed segments: times inside the audio, words inside them
        assert 0 <= final.start <= final.end <= 6.01
        for word in final.words:
            assert final.start - 0.01 <= word["start"] <= word["end"] <= final.end + 0.01
    assert [s["text"] for s in done.transcript["segments"]] == [f.text for f in finals]
    assert vtt.startswith("WEBVTT") and "-->" in vtt
    assert vtt == fetch(server, ready.session_id, "vtt")


def test_client_without_key_and_when_full(server: Server, speech: np.ndarray) -> None:
    async def no_key() -> LiveError:
        with pytest.raises(LiveError) as info:
            async with listen(server.url):
                pass
        return info.value

    error = asyncio.run(no_key())
    assert error.status_code in (401, 403) or error.close_code == 1008, error

    async def one_too_many() -> LiveError:
        client = AsyncLiveClient(server.url, KEY)
        async with client.listen(language="en"), client.listen(language="en"):
            with pytest.raises(LiveError) as info:
                async with client.listen(language="en"):
                    pass
            return info.value

    full = asyncio.run(asyncio.wait_for(one_too_many(), 60))
    assert full.close_code == 1013 and full.retry_later, full


# ---------------------------------------------------------------------------- CLI


def _fast_options() -> list[str]:
    return [f"-O{k}={','.join(map(str, v)) if isinstance(v, list) else v}" for k, v in FAST.items()]


def test_cli_streams_a_file_and_writes_subtitles(
    server: Server, speech: np.ndarray, tmp_path: Path
) -> None:
    """The real `hark` process: 6 s of jfk at 8x real time, captions on stdout, files after."""
    audio = tmp_path / "jfk.wav"
    audio.write_bytes(wav_bytes(speech[: 6 * 16000]))
    command = [sys.executable, "-m", "hark.cli", "stream", str(audio)]
    command += ["--url", server.url, "--speed", "8", "-f", "srt,json", "-o", str(tmp_path)]
    env = {**os.environ, "HARK_API_KEY": KEY, "NO_PROXY": "*"}
    done = subprocess.run([*command, *_fast_options()], capture_output=True, env=env, timeout=120)
    assert done.returncode == 0, done.stderr.decode()
    lines = done.stdout.decode().splitlines()  # not a TTY: one plain line per final
    assert lines and all(line.strip() and "\x1b" not in line for line in lines)
    result = json.loads((tmp_path / "jfk.json").read_text())
    assert [s["text"].strip() for s in result["segments"] if s["text"].strip()] == lines
    srt = (tmp_path / "jfk.srt").read_text()
    assert SRT_CUE.match(srt) and len(SRT_CUE.findall(srt)) >= len(lines)
    assert b"wrote" in done.stderr


def test_cli_streams_stdin_and_explains_errors(
    server: Server, speech: np.ndarray, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`hark stream -` with PCM on stdin (in-process: Typer's runner feeds stdin), and the
    errors a user meets: no such file, a wrong key, an option the server refuses."""
    from typer.testing import CliRunner

    from hark.cli import app

    monkeypatch.setenv("HARK_API_KEY", KEY)
    runner = CliRunner()
    base = ["stream", "-", "--url", server.url]
    done = runner.invoke(app, [*base, *_fast_options()], input=pcm(speech[: 6 * 16000]))
    assert done.exit_code == 0, done.output
    assert done.stdout.strip()

    missing = runner.invoke(app, ["stream", "missing.wav", "--url", server.url])
    assert missing.exit_code == 2 and "no such file" in missing.output
    wrong = runner.invoke(app, [*base, "--api-key", "wrong"], input=b"")
    assert wrong.exit_code == 1 and "error" in wrong.output
    refused = runner.invoke(app, [*base, "-O", "beam_size=0"], input=b"")
    assert refused.exit_code == 1 and "beam_size" in refused.output, refused.output


# ---------------------------------------------------------------------------- web page


def _fake_microphone(speech: np.ndarray, path: Path) -> Path:
    """What Chromium's fake capture device plays (on a loop): jfk's first 4.5 s (two phrases
    and the pause between them), then 3 s of quiet."""
    parts = [speech[:72_000], np.zeros(48_000, np.float32)]
    path.write_bytes(wav_bytes(np.concatenate(parts)))
    with wave.open(str(path)) as check:
        assert check.getframerate() == 16000
    return path


@pytest.mark.skipif(not CHROMIUM.is_file(), reason=f"no Chromium at {CHROMIUM}")
def test_page_live_mode(server: Server, speech: np.ndarray, tmp_path: Path) -> None:
    pytest.importorskip("playwright.sync_api")
    from playwright.sync_api import sync_playwright

    from support_server import launch_chromium

    microphone = _fake_microphone(speech, tmp_path / "microphone.wav")
    with sync_playwright() as playwright:
        browser = launch_chromium(
            playwright,
            "--use-fake-ui-for-media-stream",
            "--use-fake-device-for-media-stream",
            f"--use-file-for-fake-audio-capture={microphone}",
            "--autoplay-policy=no-user-gesture-required",
        )
        try:
            context = browser.new_context(accept_downloads=True)
            page = context.new_page()
            page.set_default_timeout(90_000)
            sockets: list[Any] = []
            page.on("websocket", lambda socket: sockets.append(socket))
            query = "&".join(f"{k}={_text(v)}" for k, v in FAST.items())
            page.goto(f"{server.url}/?{query}")
            page.wait_for_selector("body[data-ready=true]")
            assert page.is_visible("#live-button")  # the server has the live route
            page.fill("#api-key", KEY)
            page.click("#live-button")
            _wait(page, "$('live-label').textContent === 'Stop'")
            assert page.get_attribute("#live-button", "aria-pressed") == "true"
            assert page.is_disabled("#transcribe-button")

            # Captions while the fake microphone speaks: a partial (grey) and finals.
            _wait(page, "document.querySelectorAll('#live-finals .segment').length >= 1")
            grey = page.evaluate("getComputedStyle(document.getElementById('live-partial')).color")
            normal = page.evaluate(
                "getComputedStyle(document.querySelector('#live-finals .segment-text')).color"
            )
            assert grey != normal
            assert re.match(r"Live · 00:\d\d", page.text_content("#status-text") or "")

            page.click("#live-button")  # Stop: sends `end`, the server finishes and closes
            _wait(page, "$('status-text').textContent.startsWith('Done') || !$('error').hidden")
            assert page.text_content("#status-text") == "Done."  # the downloads are there
            assert page.is_hidden("#error"), page.text_content("#error")
            assert page.get_attribute("#live-button", "aria-pressed") == "false"
            finals = page.locator("#live-finals .segment-text").all_text_contents()
            assert finals and all(text.strip() for text in finals)

            (socket,) = sockets
            assert "/v1/listen?" in socket.url and KEY not in socket.url  # key: subprotocol
            for name, value in FAST.items():  # the form's fields that apply to a stream
                assert f"{name}={quote(_text(value))}" in socket.url, name

            links = page.locator("#download-list a")
            formats = links.evaluate_all("els => els.map(e => e.dataset.format)")
            assert "srt" in formats and "vtt" in formats
            with page.expect_download() as info:
                links.nth(formats.index("srt")).click()
            saved = tmp_path / "live.srt"
            info.value.save_as(saved)
            srt = saved.read_text(encoding="utf-8")
            assert SRT_CUE.match(srt)
            texts = [line for block in srt.strip().split("\n\n") for line in block.split("\n")[2:]]
            assert " ".join(texts).split() == " ".join(finals).split()
            context.close()
        finally:
            browser.close()


def _text(value: Any) -> str:
    return ",".join(map(str, value)) if isinstance(value, list) else str(value)


def _wait(page: Any, expression: str) -> None:
    """Wait until a JS expression (`$` is getElementById) is truthy; a function, not a string:
    the page's CSP forbids the eval Playwright uses for bare expressions."""
    page.wait_for_function(
        f"() => {{ const $ = (id) => document.getElementById(id); return ({expression}); }}"
    )
