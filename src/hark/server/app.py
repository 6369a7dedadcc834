"""`create_app`: the FastAPI application, its routers, and the model loaded at start-up."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from importlib.resources import files

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from hark import __version__
from hark.admission import AdmissionStats
from hark.engine import Engine
from hark.jobs.records import Job
from hark.jobs.service import JobService
from hark.live.registry import LiveRegistry
from hark.live.windows import FinalInput
from hark.pipeline import Pipeline, load_pipeline
from hark.policy import RequestPolicy
from hark.server.errors import install_error_handlers
from hark.server.executor import InferenceExecutor
from hark.server.metrics import Metrics, MetricsMiddleware
from hark.server.routes import asr, docs, health, jobs, live, openai, realtime, ui
from hark.server.shutdown import Drain
from hark.server.state import ServerState
from hark.server.streams import choose_final_input
from hark.settings import Settings

logger = logging.getLogger(__name__)

STATIC_DIR = files("hark") / "server" / "static"

DESCRIPTION = """
Self-hostable speech-to-text: Whisper on CTranslate2 with VAD batching and word timestamps.

* **ASR** (`/asr`, `/detect-language`): whisper-asr-webservice style, parameters as query or
  form fields, `output` json | txt | tsv | srt | vtt | all.
* **OpenAI compatible** (`/v1/...`): point the official `openai` client's `base_url` here.
* **Jobs** (`/run`, `/runsync`, `/status/{id}`, `/cancel/{id}`, `/retry/{id}`): RunPod's
  serverless protocol, durable (SQLite or Redis), for long recordings.
* **Live** (`/v1/listen`, `/v1/realtime?intent=transcription`): WebSocket streams, captions
  while people speak (docs/live.md).
* **Operations**: `/health`, `/ready`, `/metrics` (Prometheus).

Errors are always `{"error": {"code": ..., "message": ...}}`. When the server has API keys,
send `Authorization: Bearer <key>` (the Authorize button above).
"""


def create_app(settings: Settings | None = None, pipeline: Pipeline | None = None) -> FastAPI:
    """The application. Without `pipeline`, the model named in `settings` loads at start-up
    in the background: `/health` answers at once, `/ready` once the model is loaded."""
    settings = settings or Settings()
    metrics = Metrics()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        loading = None if state.engine else asyncio.create_task(_load(state))
        drain.install()
        try:
            yield
        finally:
            if loading is not None:
                loading.cancel()
            state.draining = True
            await asyncio.to_thread(drain.finish)
            state.jobs.close()
            state.executor.shutdown()
            if state.engine is not None:
                state.engine.close(timeout=1.0)

    app = FastAPI(
        title="Hark",
        version=__version__,
        description=DESCRIPTION,
        docs_url=None,
        redoc_url=None,
        lifespan=lifespan,
    )
    policy = RequestPolicy.from_settings(settings)
    state = ServerState(
        settings=settings,
        policy=policy,
        metrics=metrics,
        # Threads for requests running or waiting for a slot (the engine admits them), and a
        # few for those on their way in, so that an overflow is refused, not held in a pool.
        executor=InferenceExecutor(settings.sync_concurrency + settings.queue_size + 4),
        jobs=JobService(settings, policy=policy),
        live=LiveRegistry(settings.live_max_streams, settings.live_result_ttl_s),
    )

    def stop_jobs(grace: float) -> None:
        state.draining = True  # /runsync stops waiting; nothing new is claimed
        state.jobs.shutdown(grace)

    drain = Drain(stop_jobs, settings.shutdown_grace_s)
    metrics.queue_capacity.set(settings.queue_size)
    metrics.watch_job_store(state.jobs.store.counts)
    state.jobs.on_finish.append(_observe_job(metrics))
    if pipeline is not None:
        _loaded(state, pipeline)
    app.state.hark = state
    app.state.settings = settings
    app.state.metrics = metrics

    install_error_handlers(app)
    app.add_middleware(MetricsMiddleware, metrics=metrics)
    for module in (asr, openai, live, realtime, jobs, health, docs, ui):
        app.include_router(module.router)
    app.mount("/static", StaticFiles(directory=str(STATIC_DIR)), name="static")
    return app


async def _load(state: ServerState) -> None:
    settings = state.settings
    logger.info(
        "loading model %s on %s (%s)", settings.model, settings.device, settings.compute_type
    )
    try:
        pipeline = await asyncio.to_thread(load_pipeline, **settings.pipeline_kwargs())
        final_input = await asyncio.to_thread(choose_final_input, settings, pipeline.asr)
    except Exception as exc:  # any failure: /health turns 503 so the orchestrator restarts us
        state.load_error = str(exc) or type(exc).__name__
        logger.error("the model failed to load: %s", state.load_error)
        return
    _loaded(state, pipeline, final_input)


def _loaded(state: ServerState, pipeline: Pipeline, final_input: FinalInput | None = None) -> None:
    info = pipeline.model_info
    s = state.settings
    state.live_final_input = final_input or choose_final_input(s, pipeline.asr)
    # One engine owns the model: sync requests, jobs and live streams share its batches, and
    # its admission is the one place that says "busy" (jobs, in their own lane, wait there).
    state.engine = Engine(
        pipeline,
        max_requests=s.sync_concurrency,
        queue_size=s.queue_size,
        job_slots=s.job_workers,
        workers=s.num_workers,
        batch_size=s.batch_size,
        on_admission=_gauges(state.metrics),
    )
    if not state.draining:
        state.jobs.start(state.engine)
    state.metrics.model_load_seconds.labels(
        model=state.settings.model, device=info.device, compute_type=info.compute_type
    ).set(pipeline.load_seconds)
    state.metrics.model_ready.set(1)
    logger.info(
        "model %s ready on %s (%s, from compute_type=%s) in %.1f s",
        info.name,
        info.device,
        info.compute_type,
        info.requested_compute_type,
        pipeline.load_seconds,
    )


def _observe_job(metrics: Metrics) -> Callable[[Job], None]:
    def observe(job: Job) -> None:
        delay = (job.started_at or job.finished_at or job.created_at) - job.created_at
        execution = (
            (job.finished_at - job.started_at) if job.started_at and job.finished_at else None
        )
        metrics.observe_job(str(job.status), max(0.0, delay), execution)

    return observe


def _gauges(metrics: Metrics) -> Callable[[str, AdmissionStats], None]:
    def update(lane: str, stats: AdmissionStats) -> None:
        if lane != "requests":
            return  # jobs have their own gauges (the job store's counts)
        metrics.queue_depth.set(stats.waiting)
        metrics.running.set(stats.running)

    return update
