"""The RunPod handler: one job in, WhisperX JSON out, or `{"error": "..."}` that says what to fix.

`deploy/runpod/main.py` calls `get_worker()` at import, so the model loads once per worker at
cold start, from the path baked into the image (`HARK_MODEL`, `HARK_DOWNLOAD_ROOT`,
`HARK_LOCAL_FILES_ONLY`): a job never downloads a model. A model that fails to load does not
kill the worker; every job then gets an error that names the model and the cause.

`handler` is async only so that the SDK can run `HARK_RUNPOD_CONCURRENCY` jobs at once; each
job runs in a thread on the worker's engine, so concurrent jobs share the model's batches.
Nothing a job sends can raise out of the handler: input problems, undecodable audio and
internal failures all come back as `error`.
"""

from __future__ import annotations

import asyncio
import logging
import math
import os
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

from hark.audio import AudioError
from hark.engine import Engine
from hark.jobs.errors import JobInputError
from hark.jobs.output import progress_payload, whisperx_output
from hark.model_files import ModelError
from hark.pipeline import Pipeline, Progress, ProgressCallback, load_pipeline
from hark.policy import PolicyError, RequestPolicy
from hark.runpod.config import RunpodSettings, hark_settings
from hark.runpod.input import validate_input
from hark.scheduler import CancelledError
from hark.settings import Settings

__all__ = ["Worker", "concurrency_modifier", "get_worker", "handler", "progress_payload"]

logger = logging.getLogger("hark.runpod")

ProgressSender = Callable[[Mapping[str, Any], dict[str, Any]], None]
"""`(job, payload)`: how progress reaches the caller (`runpod.serverless.progress_update`)."""


class ModelNotLoadedError(RuntimeError):
    code = "model_not_loaded"


class Worker:
    """The loaded pipeline and the worker settings; `run(job)` never raises."""

    def __init__(
        self,
        settings: Settings | None = None,
        runpod: RunpodSettings | None = None,
        *,
        progress_sender: ProgressSender | None = None,
        loader: Callable[..., Pipeline] = load_pipeline,
    ) -> None:
        self.settings = settings or hark_settings()
        self.runpod = runpod or RunpodSettings()
        self.policy = RequestPolicy.from_settings(self.settings)
        self.progress_sender = progress_sender or _runpod_progress_sender()
        self.pipeline: Pipeline | None = None
        self.engine: Engine | None = None
        self.load_error: str | None = None
        kwargs = self.settings.pipeline_kwargs()
        # CTranslate2 decodes at most num_workers batches at a time: one per concurrent job.
        kwargs["num_workers"] = max(kwargs["num_workers"], self.runpod.concurrency)
        try:
            self.pipeline = loader(**kwargs)
        except Exception as exc:  # any failure: report it per job instead of dying
            logger.exception("loading model %r failed", self.settings.model)
            self.load_error = (
                f"this worker has no model: {self.settings.model!r} failed to load ({exc}). "
                "Check HARK_MODEL, DEVICE and COMPUTE_TYPE on the endpoint, or rebuild the "
                "image with the model baked in (docker build --build-arg MODEL=...)"
            )
        else:
            # Every concurrent job runs at once (the SDK already bounds them): their chunks
            # share the scheduler's batches.
            self.engine = Engine(
                self.pipeline,
                max_requests=self.runpod.concurrency,
                queue_size=self.runpod.concurrency,
                workers=kwargs["num_workers"],
                batch_size=self.settings.batch_size,
            )
            info = self.pipeline.model_info
            logger.info(
                "model %s ready on %s (%s) in %.1f s",
                info.name,
                info.device,
                info.compute_type,
                self.pipeline.load_seconds,
            )

    def run(self, job: Mapping[str, Any]) -> dict[str, Any]:
        """Transcribe one RunPod job; problems come back as `{"error": message}`."""
        job_id = job.get("id", "?") if isinstance(job, Mapping) else "?"
        started = time.perf_counter()
        try:
            result = self._transcribe(job)
        except (JobInputError, AudioError, ModelError, ModelNotLoadedError, JobTimedOut) as exc:
            logger.info("job %s: %s", job_id, exc)
            return {"error": str(exc)}
        except Exception as exc:  # the worker must survive whatever one job triggers
            logger.exception("job %s failed", job_id)
            return {
                "error": f"internal error while transcribing ({type(exc).__name__}: {exc}); "
                "the worker is still running: retry, and report the input if it persists"
            }
        logger.info("job %s done in %.1f s", job_id, time.perf_counter() - started)
        return result

    def _transcribe(self, job: Any) -> dict[str, Any]:
        if not isinstance(job, Mapping) or job.get("input") is None:
            raise JobInputError('the job has no input: send {"input": {"audio_base_64": "..."}}')
        if self.engine is None:
            raise ModelNotLoadedError(self.load_error)
        request = validate_input(job["input"])
        policy = self.policy
        try:  # model options name only what the worker's operator made available
            options = policy.options(request.transcribe_options())
        except PolicyError as exc:
            raise JobInputError(str(exc)) from None
        # HARK_MAX_UPLOAD_MB, HARK_URL_TIMEOUT_S, HARK_ALLOW_PRIVATE_URLS, as on the server.
        with request.open_audio(policy.fetcher()) as audio:
            limit_s = policy.job_timeout() or math.inf
            report = self._progress(job, policy.job_deadline(time.monotonic()))
            # The deadline is checked at every stage by `report`, and between ASR batches by
            # the cancel event this timer sets.
            cancel = threading.Event()
            timer = threading.Timer(limit_s, cancel.set) if limit_s < math.inf else None
            if timer is not None:
                timer.daemon = True
                timer.start()
            try:
                transcript = self.engine.transcribe(
                    audio.file, options, progress=report, cancel=cancel
                )
            except CancelledError:
                raise JobTimedOut(
                    f"the job ran past the worker's limit of {limit_s:g} s "
                    "(HARK_JOB_TIMEOUT_S) during asr; send shorter audio"
                ) from None
            finally:
                if timer is not None:
                    timer.cancel()
        return whisperx_output(transcript, request.output_formats)

    def _progress(self, job: Mapping[str, Any], deadline: float) -> ProgressCallback:
        """Progress updates to RunPod, and the job's deadline (HARK_JOB_TIMEOUT_S) checked at
        every stage and batch, so a job past it stops there instead of running on."""
        sender = self.progress_sender
        interval = self.runpod.progress_interval_s
        last = time.monotonic()

        def report(progress: Progress) -> None:
            nonlocal last
            now = time.monotonic()
            if now > deadline:
                raise JobTimedOut(
                    f"the job ran past the worker's limit of {self.settings.job_timeout_s:g} s "
                    f"(HARK_JOB_TIMEOUT_S) during {progress.stage}; send shorter audio"
                )
            if sender is None or now - last < interval:
                return  # short jobs send nothing; long ones one update per interval
            last = now
            try:
                sender(job, progress_payload(progress))
            except Exception:  # a lost update must not fail the job
                logger.warning("progress update failed", exc_info=True)

        return report

    def concurrency_modifier(self, current: int) -> int:
        return self.runpod.concurrency


class JobTimedOut(Exception):
    """The job ran past HARK_JOB_TIMEOUT_S and was stopped at a stage or batch boundary."""


def _runpod_progress_sender() -> ProgressSender | None:
    # Off RunPod (local test, --rp_serve_api) the SDK has nowhere to post updates to.
    if not os.environ.get("RUNPOD_WEBHOOK_POST_OUTPUT"):
        return None
    try:
        from runpod.serverless import progress_update
    except ImportError:  # pragma: no cover - the image always has the SDK
        return None
    return progress_update


_worker: Worker | None = None
_worker_lock = threading.Lock()


def get_worker() -> Worker:
    """The process's worker, configured from the environment; loads the model on first call."""
    global _worker
    with _worker_lock:
        if _worker is None:
            _worker = Worker()
        return _worker


async def handler(job: dict[str, Any]) -> dict[str, Any]:
    """The RunPod handler: `{"input": {...}}` -> WhisperX JSON or `{"error": ...}`."""
    worker = get_worker()
    return await asyncio.to_thread(worker.run, job)


def concurrency_modifier(current: int) -> int:
    """Jobs this worker takes at once (`HARK_RUNPOD_CONCURRENCY`)."""
    return get_worker().concurrency_modifier(current)
