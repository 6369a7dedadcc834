"""`GET /health` (alive), `GET /ready` (model loaded, queue not full) and `GET /metrics`.

They never touch the model or the executor's threads, so they answer at once while inference
runs (Kubernetes probes, Prometheus scrapes).
"""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from hark import __version__
from hark.server.auth import require_key_for_health, require_key_for_metrics
from hark.server.errors import error_response
from hark.server.metrics import CONTENT_TYPE
from hark.server.openapi import error_responses
from hark.server.routes.jobs import health_fields
from hark.server.state import get_state

router = APIRouter(tags=["Operations"])


class Health(BaseModel):
    status: str
    version: str
    jobs: dict[str, int] = {}
    workers: dict[str, int] = {}


class Ready(BaseModel):
    status: str
    model: dict[str, Any]
    queue: dict[str, int]
    live: dict[str, Any] = {}


@router.get(
    "/health",
    summary="Liveness",
    response_model=Health,
    responses=error_responses(401, 503),
    dependencies=[Depends(require_key_for_health)],
)
async def health(request: Request) -> Response:
    """200 while the process runs; 503 only when the model failed to load (restart it).
    `jobs` and `workers` are RunPod's endpoint health: job counts and this process's job
    slots."""
    state = get_state(request)
    if state.load_error:
        message = f"the model failed to load: {state.load_error}"
        return error_response(request, 503, "model_unavailable", message)
    extra = await asyncio.to_thread(health_fields, state)
    return JSONResponse({"status": "ok", "version": __version__, **extra})


@router.get(
    "/ready",
    summary="Readiness",
    response_model=Ready,
    responses=error_responses(401, 503),
    dependencies=[Depends(require_key_for_health)],
)
async def ready(request: Request) -> Response:
    """200 once the model is loaded and while the queue has room; 503 otherwise."""
    state = get_state(request)
    if state.engine is None:
        code, message = (
            ("model_unavailable", state.load_error)
            if state.load_error
            else ("model_loading", "the model is still loading")
        )
        return error_response(request, 503, code, message or "")
    admission = state.engine.admission.lane("requests")
    if admission.saturated:
        headers = {"Retry-After": str(admission.retry_after())}
        return error_response(request, 503, "queue_full", "the queue is full", headers)
    info = state.engine.model_info
    now = admission.stats()
    return JSONResponse(
        {
            "status": "ready",
            "model": {
                "name": info.name,
                "device": info.device,
                "compute_type": info.compute_type,
                "requested_compute_type": info.requested_compute_type,
                "load_seconds": round(state.engine.pipeline.load_seconds, 3),
            },
            "queue": {
                "waiting": now.waiting,
                "running": now.running,
                "capacity": admission.queue,
                "workers": admission.slots,
            },
            # What HARK_LIVE_FINAL_INPUT came to ("auto" is decided at load: docs/live.md).
            "live": {
                "final_input": "full" if state.live_final_input.full else "short",
                # `auto` on CPU: one 30 s encoding's seconds, what it decided on (else null).
                "encode_30s_seconds": state.live_final_input.encode_s,
            },
        }
    )


@router.get(
    "/metrics",
    summary="Prometheus metrics",
    response_class=Response,
    responses={200: {"content": {CONTENT_TYPE: {}}}, **error_responses(401)},
    dependencies=[Depends(require_key_for_metrics)],
)
async def metrics(request: Request) -> Response:
    """Prometheus text format: requests, latency, audio processed, queue, model load time."""
    return Response(get_state(request).metrics.render(), media_type=CONTENT_TYPE)
