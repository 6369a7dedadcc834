"""The RunPod handler in-process: WhisperX output on real audio, errors, progress, configuration."""

from __future__ import annotations

import asyncio
import base64
import math
from pathlib import Path
from typing import Any

import pytest

import helpers
from hark.pipeline import Pipeline, Progress
from hark.runpod import handler as handler_module
from hark.runpod.config import RunpodSettings, hark_settings
from hark.runpod.handler import Worker, progress_payload
from hark.settings import Settings

FIXED: dict[str, Any] = {"language": "en", **helpers.FIXED, "max_new_tokens": 16}
WORD_KEYS = {"word", "start", "end", "score"}


@pytest.fixture(scope="module")
def settings(test_models: Path) -> Settings:
    return Settings(model=str(test_models / "whisper-tiny"), device="cpu", compute_type="int8")


@pytest.fixture(scope="module")
def worker(settings: Settings) -> Worker:
    worker = Worker(settings, RunpodSettings())
    assert worker.pipeline is not None, worker.load_error
    return worker


@pytest.fixture(scope="module")
def jfk_b64(shared_audio: Path) -> str:
    return base64.b64encode((shared_audio / "jfk.flac").read_bytes()).decode()


def job(**payload: Any) -> dict[str, Any]:
    return {"id": "test-job", "input": payload}


def check_whisperx(output: dict[str, Any], formats: tuple[str, ...] = ()) -> None:
    """Exactly the WhisperX result shape, times in order, plus the requested renderings."""
    assert set(output) == {"segments", "word_segments", "language", "duration", *formats}
    assert output["segments"] and output["word_segments"]
    last = 0.0
    for segment in output["segments"]:
        assert set(segment) == {"start", "end", "text", "words"}
        assert segment["text"].strip() and 0 <= segment["start"] <= segment["end"]
        for word in segment["words"]:
            assert set(word) == WORD_KEYS
            assert segment["start"] <= word["start"] <= word["end"] <= segment["end"]
            assert word["start"] >= last and 0 <= word["score"] <= 1
            last = word["start"]
    assert output["word_segments"] == [w for s in output["segments"] for w in s["words"]]
    assert output["segments"][-1]["end"] <= output["duration"] + 1e-3


def test_jfk_base64_gives_whisperx_json_and_formats(worker: Worker, jfk_b64: str) -> None:
    formats = ("srt", "vtt", "txt", "tsv")
    output = worker.run(job(audio_base_64=jfk_b64, output_formats=list(formats), **FIXED))
    check_whisperx(output, formats)
    assert output["language"] == "en" and output["duration"] == pytest.approx(11.0, abs=0.01)
    assert len(output["word_segments"]) >= 5
    first = output["segments"][0]
    assert output["srt"].startswith("1\n00:00:")
    assert output["vtt"].startswith("WEBVTT") and first["words"][0]["word"] in output["vtt"]
    assert first["text"] in output["txt"]
    assert output["tsv"].splitlines()[0].split("\t") == ["start", "end", "text"]


def test_alias_and_data_url_prefix(worker: Worker, jfk_b64: str) -> None:
    output = worker.run(job(audio_base64="data:audio/flac;base64," + jfk_b64, **FIXED))
    check_whisperx(output)


def test_bad_inputs_get_errors_and_the_worker_goes_on(worker: Worker, jfk_b64: str) -> None:
    text_b64 = base64.b64encode(b"this is a text file, not audio\n" * 20).decode()
    bad = [
        ({"id": "x", "input": None}, 'the job has no input: send {"input"'),
        ({"id": "x"}, "the job has no input"),
        (job(audio_base_64="not base64!"), "audio_base_64 is not valid base64"),
        (job(audio_base_64=text_b64), "is not audio or video (it looks like a text file)"),
        (job(audio_base_64=jfk_b64, max_duration=5), "over the 5 s limit: it is 11.0 s long"),
        (job(audio_base_64=jfk_b64, beam_sizes=2), "unknown input option 'beam_sizes'"),
        (job(language="en"), "no audio: send the file as audio_base_64"),
        (job(audio_base_64=jfk_b64, output_formats=["pdf"]), "output_formats.0: Input"),
        (job(audio_url="file:///etc/passwd"), "must be an http:// or https:// link"),
        (job(audio_url="http://127.0.0.1:9/a.wav"), "non-public address (127.0.0.1)"),
    ]
    for request, expected in bad:
        result = worker.run(request)
        assert set(result) == {"error"}, request
        assert expected in result["error"], (expected, result["error"])
        assert "Traceback" not in result["error"]
    check_whisperx(worker.run(job(audio_base_64=jfk_b64, **FIXED)))


def test_worker_audio_limit_from_settings(worker: Worker, settings: Settings, jfk_b64) -> None:
    assert worker.pipeline is not None
    short = settings.model_copy(update={"max_audio_seconds": 5.0, "max_upload_mb": 10.0})
    limited = Worker(short, loader=lambda **_: worker.pipeline)
    result = limited.run(job(audio_base_64=jfk_b64, **FIXED))
    assert "over the 5 s limit" in result["error"]
    # A request may lower the limit, never raise it.
    assert "over the 5 s limit" in limited.run(job(audio_base_64=jfk_b64, max_duration=60))["error"]
    tiny = settings.model_copy(update={"max_upload_mb": 0.5})
    result = Worker(tiny, loader=lambda **_: worker.pipeline).run(job(audio_base_64=jfk_b64))
    assert "over the 0.5 MiB limit" in result["error"]
    # MiB (1024² bytes), as on the HTTP server: 1.1 MiB = 1 153 433 bytes holds jfk.flac
    # (1 152 693 bytes), which 1.1 MB (10⁶) would not.
    assert 1_100_000 < len(base64.b64decode(jfk_b64)) < 1.1 * 1024 * 1024
    roomy = settings.model_copy(update={"max_upload_mb": 1.1})
    result = Worker(roomy, loader=lambda **_: worker.pipeline).run(
        job(audio_base_64=jfk_b64, **FIXED)
    )
    assert "error" not in result and result["segments"], result


def test_a_job_past_the_worker_deadline_stops(worker: Worker, settings, jfk_b64) -> None:
    assert worker.pipeline is not None
    hurried = settings.model_copy(update={"job_timeout_s": 0.001})
    result = Worker(hurried, loader=lambda **_: worker.pipeline).run(job(audio_base_64=jfk_b64))
    assert "HARK_JOB_TIMEOUT_S" in result["error"] and "during vad" in result["error"]
    check_whisperx(worker.run(job(audio_base_64=jfk_b64, **FIXED)))  # the default: 4 h


def test_model_that_fails_to_load_reports_per_job(settings: Settings, tmp_path: Path) -> None:
    missing = str(tmp_path / "no-such-model")
    broken = Worker(settings.model_copy(update={"model": missing}))
    assert broken.pipeline is None
    for _ in range(2):  # the worker stays up and answers every job
        result = broken.run(job(audio_base_64="QUJD"))
        assert set(result) == {"error"}
        assert f"{missing!r} failed to load" in result["error"]
        assert "does not exist" in result["error"] and "HARK_MODEL" in result["error"]


class _Flaky:
    """A pipeline whose first request crashes in a stage (a bug, an out-of-memory...)."""

    def __init__(self, real: Pipeline) -> None:
        self.real, self.calls = real, 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self.real, name)

    def prepare(self, *args: Any, **kwargs: Any) -> Any:
        self.calls += 1
        if self.calls == 1:
            raise RuntimeError("CUDA failed with error out of memory")
        return self.real.prepare(*args, **kwargs)


def test_internal_failure_is_an_error_not_a_crash(worker: Worker, settings, jfk_b64) -> None:
    flaky = Worker(settings, loader=lambda **_: _Flaky(worker.pipeline))
    first = flaky.run(job(audio_base_64=jfk_b64, **FIXED))
    assert first["error"].startswith("internal error while transcribing (RuntimeError: CUDA")
    assert "Traceback" not in first["error"]
    check_whisperx(flaky.run(job(audio_base_64=jfk_b64, **FIXED)))


def test_progress_updates_on_long_jobs(
    worker: Worker, settings: Settings, jfk_b64: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    sent: list[tuple[dict[str, Any], dict[str, Any]]] = []
    every_time = Worker(
        settings,
        RunpodSettings(progress_interval_s=0),
        progress_sender=lambda j, p: sent.append((j, p)),
        loader=lambda **_: worker.pipeline,
    )
    request = job(audio_base_64=jfk_b64, **FIXED)
    check_whisperx(every_time.run(request))
    assert sent and all(j is request for j, _ in sent)
    payloads = [p for _, p in sent]
    stages = [p["stage"] for p in payloads]
    assert {"vad", "asr"} <= set(stages) <= {"vad", "asr", "align", "diarize"}
    asr = [p for p in payloads if p["stage"] == "asr"]
    assert asr[-1] == {"stage": "asr", "percent": 100.0, "done": 11.0, "total": 11.0}
    assert stages.index("vad") < stages.index("asr")

    sent.clear()  # the default 10 s interval: quick jobs send nothing
    report = Worker(
        settings,
        progress_sender=lambda j, p: sent.append((j, p)),
        loader=lambda **_: worker.pipeline,
    )._progress(request, deadline=math.inf)
    for done in range(12):
        report(Progress("asr", done, 11.0))
    assert sent == []
    monkeypatch.delenv("RUNPOD_WEBHOOK_POST_OUTPUT", raising=False)
    off_runpod = Worker(settings, loader=lambda **_: worker.pipeline)
    assert off_runpod.progress_sender is None  # off RunPod the callback only keeps the deadline
    off_runpod._progress(request, deadline=math.inf)(Progress("asr", 11.0, 11.0))


def test_progress_sender_failure_does_not_fail_the_job(worker: Worker, settings, jfk_b64) -> None:
    def broken(job: Any, payload: Any) -> None:
        raise ConnectionError("RunPod unreachable")

    w = Worker(
        settings,
        RunpodSettings(progress_interval_s=0),
        progress_sender=broken,
        loader=lambda **_: worker.pipeline,
    )
    check_whisperx(w.run(job(audio_base_64=jfk_b64, **FIXED)))


def test_progress_payload() -> None:
    assert progress_payload(Progress("asr", 30.04, 120.0)) == {
        "stage": "asr",
        "percent": 25.0,
        "done": 30.0,
        "total": 120.0,
    }
    assert progress_payload(Progress("vad", 0, 0))["percent"] == 0.0


def test_runpod_progress_only_on_runpod(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("RUNPOD_WEBHOOK_POST_OUTPUT", raising=False)
    assert handler_module._runpod_progress_sender() is None
    monkeypatch.setenv("RUNPOD_WEBHOOK_POST_OUTPUT", "https://api.runpod.ai/v2/x/job-done/$ID")
    from runpod.serverless import progress_update

    assert handler_module._runpod_progress_sender() is progress_update


def test_concurrency_setting_and_decoder_slots(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HARK_RUNPOD_CONCURRENCY", "3")
    seen: dict[str, Any] = {}

    def loader(**kwargs: Any) -> Any:
        seen.update(kwargs)
        raise RuntimeError("no GPU here")

    w = Worker(Settings(model="x"), loader=loader)
    assert w.concurrency_modifier(1) == 3
    assert seen["num_workers"] == 3  # one CTranslate2 decode slot per concurrent job
    assert "no GPU here" in (w.load_error or "")


def test_plain_device_and_compute_type(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("HARK_DEVICE", "HARK_COMPUTE_TYPE", "DEVICE", "COMPUTE_TYPE"):
        monkeypatch.delenv(name, raising=False)
    assert (hark_settings().device, hark_settings().compute_type) == ("auto", "default")
    monkeypatch.setenv("DEVICE", "cpu")
    monkeypatch.setenv("COMPUTE_TYPE", "int8")
    assert (hark_settings().device, hark_settings().compute_type) == ("cpu", "int8")
    monkeypatch.setenv("HARK_DEVICE", "cuda")  # the HARK_ name wins when both are set
    assert (hark_settings().device, hark_settings().compute_type) == ("cuda", "int8")


def test_async_handler_runs_jobs_concurrently(
    worker: Worker, jfk_b64: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(handler_module, "_worker", worker)
    assert handler_module.get_worker() is worker
    assert handler_module.concurrency_modifier(1) == 1

    async def two_jobs() -> list[dict[str, Any]]:
        return await asyncio.gather(
            handler_module.handler(job(audio_base_64=jfk_b64, **FIXED)),
            handler_module.handler(job(audio_base_64="%%%")),
        )

    good, bad = asyncio.run(two_jobs())
    check_whisperx(good)
    assert "not valid base64" in bad["error"]
