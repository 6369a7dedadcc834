"""Async jobs with RunPod's serverless protocol: `/run`, `/runsync`, `/status`, `/cancel`,
`/retry` (the job counts are in `/health`). Same paths and JSON as
`https://api.runpod.ai/v2/{endpoint_id}`, so RunPod clients work unchanged."""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
from typing import Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse

from hark.jobs.records import Job
from hark.jobs.store import Idempotency, IdempotencyConflict, StoreFullError
from hark.jobs.submit import BadJobRequest
from hark.server.auth import caller, require_key
from hark.server.errors import ApiError, shorten
from hark.server.openapi import error_responses
from hark.server.state import ServerState, get_state

router = APIRouter(tags=["Jobs"], dependencies=[Depends(require_key)])

MAX_WAIT_MS = 300_000
IDEMPOTENCY_HEADER = "Idempotency-Key"
_JOB_BODY = {
    "required": True,
    "content": {
        "application/json": {
            "schema": {
                "type": "object",
                "required": ["input"],
                "properties": {
                    "input": {
                        "type": "object",
                        "description": "audio_base_64 | audio_url, output_formats, and every "
                        "transcription option (the RunPod worker's input).",
                    },
                    "webhook": {"type": "string", "description": "POSTed the final job."},
                    "policy": {
                        "type": "object",
                        "properties": {"executionTimeout": {"type": "integer"}},
                    },
                },
            },
            "example": {"input": {"audio_url": "https://example.com/a.mp3", "language": "en"}},
        }
    },
}

_IDEMPOTENCY_PARAMETER = {
    "name": "Idempotency-Key",
    "in": "header",
    "required": False,
    "schema": {"type": "string", "minLength": 1, "maxLength": 255},
    "description": "Any unique string (a UUID) per submission: sending the request again with "
    "the same key returns the job the first one created instead of queueing a second one.",
}


async def _submit(request: Request, state: ServerState) -> Job:
    limit = state.max_upload_bytes * 4 // 3 + 64 * 1024  # base64 of the largest upload
    size = request.headers.get("content-length", "")
    if size.isdigit() and int(size) > limit:
        raise ApiError(413, "upload_too_large", "the job body is larger than the upload limit")
    raw = await request.body()
    try:
        body = json.loads(raw)
    except RecursionError:
        raise ApiError(400, "invalid_body", "the JSON body is nested too deeply") from None
    except ValueError:
        raise ApiError(400, "invalid_body", 'the body must be JSON {"input": {...}}') from None
    idempotency = _idempotency(request, raw)
    try:
        return await asyncio.to_thread(state.jobs.submit, body, idempotency, caller(request))
    except BadJobRequest as exc:
        raise ApiError(400, "invalid_body", str(exc)) from None
    except StoreFullError as exc:
        raise ApiError(507, "store_full", str(exc), headers={"Retry-After": "60"}) from None
    except IdempotencyConflict as exc:
        raise ApiError(422, "idempotency_conflict", str(exc)) from None


def _idempotency(request: Request, raw: bytes) -> Idempotency | None:
    """The `Idempotency-Key` header: a retried submission with the same key gets the same job
    instead of a second one. Keys are scoped to the caller's API key."""
    key = request.headers.get(IDEMPOTENCY_HEADER)
    if key is None:
        return None
    if not 1 <= len(key) <= 255 or not key.isascii() or not key.isprintable():
        raise ApiError(
            400,
            "invalid_idempotency_key",
            f"{IDEMPOTENCY_HEADER} must be 1 to 255 printable ASCII characters (e.g. a UUID)",
        )
    owner = hashlib.sha256(request.headers.get("authorization", "").encode()).hexdigest()[:16]
    return Idempotency(f"{owner}:{key}", hashlib.sha256(raw).hexdigest())


@router.post(
    "/run",
    summary="Queue a job",
    responses=error_responses(400, 401, 413, 422, 507),
    openapi_extra={"requestBody": _JOB_BODY, "parameters": [_IDEMPOTENCY_PARAMETER]},
)
async def run(request: Request) -> JSONResponse:
    """Store the job and answer `{"id", "status"}` at once; poll `/status/{id}`."""
    job = await _submit(request, get_state(request))
    return JSONResponse({"id": job.id, "status": str(job.status)})


@router.post(
    "/runsync",
    summary="Run a job and wait for it",
    responses=error_responses(400, 401, 413, 422, 507),
    openapi_extra={"requestBody": _JOB_BODY, "parameters": [_IDEMPOTENCY_PARAMETER]},
)
async def runsync(
    request: Request,
    wait: int | None = Query(None, ge=1000, le=MAX_WAIT_MS, description="Milliseconds."),
) -> JSONResponse:
    """The finished job, or its id and status if it is still running after `wait` ms (default
    `HARK_RUNSYNC_WAIT_S`); then poll `/status/{id}`."""
    state = get_state(request)
    job = await _submit(request, state)
    owner = caller(request)
    wait_s = wait / 1000 if wait else state.settings.runsync_wait_s
    deadline = time.monotonic() + wait_s
    delay = 0.05
    while not job.status.final and time.monotonic() < deadline and not state.draining:
        if await request.is_disconnected():
            break  # the job goes on; its status stays available
        await asyncio.sleep(delay)
        delay = min(0.5, delay * 1.5)
        job = await _get(state, job.id, owner)
    if job.status.final:
        return JSONResponse(job.public())
    return JSONResponse({"id": job.id, "status": str(job.status)})


def _not_found(job_id: str) -> ApiError:
    return ApiError(404, "job_not_found", f"no job {shorten(job_id)} (unknown, or purged)")


async def _get(state: ServerState, job_id: str, owner: str | None) -> Job:
    """The job, if the caller's key owns it: another key's job is as unknown as a missing one
    (404, same message), so ids say nothing across keys."""
    job = await asyncio.to_thread(state.jobs.store.get, job_id)
    if job is None or job.owner != owner:
        raise _not_found(job_id)
    return job


@router.get("/status/{job_id}", summary="A job's status", responses=error_responses(401, 404))
async def status(request: Request, job_id: str) -> JSONResponse:
    """`IN_QUEUE | IN_PROGRESS | COMPLETED | FAILED | CANCELLED | TIMED_OUT`, `delayTime` and
    `executionTime` (ms), `output` when completed (progress while running), `error`."""
    return JSONResponse((await _get(get_state(request), job_id, caller(request))).public())


router.add_api_route(
    "/status/{job_id}",
    status,
    methods=["POST"],
    summary="A job's status (POST, as RunPod accepts)",
    responses=error_responses(401, 404),
)


@router.post("/cancel/{job_id}", summary="Cancel a job", responses=error_responses(401, 404))
async def cancel(request: Request, job_id: str) -> JSONResponse:
    """Queued: CANCELLED at once. Running: stopped at its next batch (status turns CANCELLED)."""
    state = get_state(request)
    await _get(state, job_id, caller(request))
    job = await asyncio.to_thread(state.jobs.store.cancel, job_id)
    if job is None:
        raise _not_found(job_id)
    return JSONResponse({"id": job.id, "status": str(job.status)})


@router.post(
    "/retry/{job_id}", summary="Retry a failed job", responses=error_responses(401, 404, 409)
)
async def retry(request: Request, job_id: str) -> JSONResponse:
    """Queue a FAILED or TIMED_OUT job again, same id and input."""
    state = get_state(request)
    await _get(state, job_id, caller(request))
    job = await asyncio.to_thread(state.jobs.store.retry, job_id)
    if job is None:
        raise _not_found(job_id)
    if job.status.final:
        raise ApiError(
            409, "not_retryable", f"job {job_id} is {job.status}; only FAILED or TIMED_OUT retry"
        )
    if state.jobs.runner is not None:
        state.jobs.runner.wake()
    return JSONResponse({"id": job.id, "status": str(job.status)})


def health_fields(state: ServerState) -> dict[str, Any]:
    """RunPod's endpoint health keys, merged into `GET /health`."""
    try:
        jobs = state.jobs.store.counts()
    except Exception:  # the store being down must not fail liveness
        jobs = {}
    return {"jobs": jobs, "workers": state.jobs.workers()}
