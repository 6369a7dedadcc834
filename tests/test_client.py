"""`hark.client.Client` against a Hark server and against the RunPod SDK's local API server (the
same client, the same calls), its retries, and `hark remote transcribe`."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from hark.cli import app
from hark.client import Client, ClientError, JobFailed, audio_input
from support_jobs import FAST_INPUT, Server, job_server
from test_runpod_sdk import api, worker_env  # noqa: F401  (fixtures: the RunPod local server)

KEY = "client-test-key"


@pytest.fixture(scope="module")
def server(test_models: Path, tmp_path_factory: pytest.TempPathFactory) -> Server:
    data = tmp_path_factory.mktemp("jobs-client")
    return job_server(test_models, data, {"HARK_API_KEYS": KEY}, name="jobs-client")


@pytest.fixture(scope="module")
def client(server: Server) -> Iterator[Client]:
    with Client(server.url, api_key=KEY, backoff=0.05) as c:
        yield c


@pytest.fixture(scope="module")
def jfk(shared_audio: Path) -> Path:
    return shared_audio / "jfk.flac"


def check_output(output: dict[str, Any], formats: tuple[str, ...] = ()) -> None:
    assert {"segments", "word_segments", "language", "duration", *formats} == set(output)
    assert output["word_segments"] and output["language"] == "en"


def test_transcribe_and_protocol_on_hark(client: Client, jfk: Path) -> None:
    check_output(
        client.transcribe(jfk, poll_interval=0.1, output_formats=["vtt"], **FAST_INPUT), ("vtt",)
    )
    check_output(client.transcribe(jfk.read_bytes(), poll_interval=0.1, **FAST_INPUT))
    done = client.runsync({"audio_base_64": "UklGRg==", "language": "en"}, wait_ms=5000)
    assert done["status"] == "FAILED" and done["error"]
    with pytest.raises(JobFailed, match=r"FAILED: .*is empty"):
        client.transcribe(b"", **FAST_INPUT)
    job = client.run({"audio_url": "http://127.0.0.1:9/a.wav"})
    assert client.wait(job["id"], poll_interval=0.1)["status"] == "FAILED"
    assert client.retry(job["id"])["status"] == "IN_QUEUE"
    assert client.cancel(job["id"])["status"] in ("CANCELLED", "IN_PROGRESS", "FAILED")
    with pytest.raises(ClientError) as info:
        client.retry("no-such-job")
    assert info.value.status_code == 404
    health = client.health()
    assert health["jobs"]["completed"] >= 2 and "workers" in health
    with Client(str(client._http.base_url)) as anonymous, pytest.raises(ClientError) as info:
        anonymous.status(job["id"])
    assert info.value.status_code == 401


def test_same_client_on_the_runpod_sdk_server(api: str, jfk: Path) -> None:  # noqa: F811
    fixed = {**FAST_INPUT, "max_new_tokens": 16}
    with Client(api, api_key="rpa_unused") as runpod:
        output = runpod.transcribe(
            jfk, poll_interval=0.2, timeout=120, output_formats=["srt"], **fixed
        )
    check_output(output, ("srt",))
    assert output["srt"].startswith("1\n")


def test_retries_on_429_5xx_and_connection_errors() -> None:
    answers = iter(
        [
            httpx.ConnectError("refused"),
            httpx.Response(503),
            httpx.Response(429, headers={"Retry-After": "0"}),
        ]
    )
    calls: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request.headers["authorization"])
        answer = next(answers, None)
        if isinstance(answer, Exception):
            raise answer
        return answer or httpx.Response(200, json={"id": "j1", "status": "COMPLETED", "output": {}})

    with Client("http://hark.test", "k", backoff=0.01, transport=httpx.MockTransport(handler)) as c:
        assert c.status("j1")["status"] == "COMPLETED"
    assert calls == ["Bearer k"] * 4
    failing = httpx.MockTransport(lambda _r: httpx.Response(502, text="bad gateway"))
    c = Client("http://hark.test", retries=2, backoff=0.01, transport=failing)
    with c, pytest.raises(ClientError, match="HTTP 502"):
        c.health()


def test_remote_transcribe_cli(server: Server, jfk: Path, tmp_path: Path) -> None:
    args = ["remote", "transcribe", str(jfk), str(jfk.with_name("jfk.flac")), "--url", server.url]
    args += ["--api-key", KEY, "-o", str(tmp_path), "-f", "json,srt", "--poll-interval", "0.1"]
    args += ["--language", "en", "--beam-size", "1", "--temperature", "0"]
    args += ["--suppress-tokens", "-1,50257", "--max-new-tokens", "8"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["jfk.json", "jfk.srt"]
    data = json.loads((tmp_path / "jfk.json").read_text())
    check_output(data)
    assert (tmp_path / "jfk.srt").read_text().startswith("1\n")
    bad = CliRunner().invoke(
        app, ["remote", "transcribe", str(jfk), "--url", server.url, "-f", "pdf"]
    )
    assert bad.exit_code == 2


def test_a_lost_run_answer_is_retried_without_a_second_job(server: Server, jfk: Path) -> None:
    """The server stores the job, the answer is lost (a timeout), the client retries: the
    Idempotency-Key makes the retry return the same job."""
    real = httpx.HTTPTransport()
    keys: list[str] = []

    class LosesFirstAnswer(httpx.BaseTransport):
        def handle_request(self, request: httpx.Request) -> httpx.Response:
            response = real.handle_request(request)
            if request.url.path == "/run":
                keys.append(request.headers["idempotency-key"])
                if len(keys) == 1:
                    response.read()
                    raise httpx.ReadTimeout("answer lost", request=request)
            return response

    with Client(server.url, api_key=KEY, backoff=0.01, transport=LosesFirstAnswer()) as c:
        before = c.health()["jobs"]
        job = c.run(audio_input(jfk) | {"language": "en", "max_new_tokens": 8})
        done = c.wait(job["id"], poll_interval=0.2, timeout=60)
        after = c.health()["jobs"]
    assert len(keys) == 2 and keys[0] == keys[1]
    assert done["status"] == "COMPLETED"
    submitted = sum(after[k] - before[k] for k in ("completed", "failed", "inQueue", "inProgress"))
    assert submitted == 1
