"""Every error leaves the server as `{"error": {"code", "message"}}`; no stack traces leak."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from hark.audio import AudioError
from hark.model_files import ModelError

logger = logging.getLogger(__name__)

_MAX_LISTED = 10  # validation problems listed in one message
MAX_MESSAGE_CHARS = 2000  # no error body is larger than this, whatever it quotes

# Input problems found while decoding: media we cannot read is "unsupported" (415); media we
# can read but that is broken or empty is a bad request (400).
AUDIO_STATUS = {
    "not_audio": 415,
    "no_audio_stream": 415,
    "empty_audio": 400,
    "corrupt_audio": 400,
    "not_found": 400,
    "invalid_array": 400,
    "audio_too_long": 413,
}


class ApiError(Exception):
    """An error with its HTTP status and stable machine-readable code."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        *,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = dict(headers or {})


def invalid(field: str, message: str) -> ApiError:
    """A 422 that names the offending field first, as validation errors do."""
    return ApiError(422, "invalid_parameter", f"{field}: {message}")


def error_response(
    request: Request | None,
    status: int,
    code: str,
    message: str,
    headers: Mapping[str, str] | None = None,
) -> JSONResponse:
    if request is not None:
        metrics = getattr(request.app.state, "metrics", None)
        if metrics is not None:
            metrics.errors.labels(code=code).inc()
    if len(message) > MAX_MESSAGE_CHARS:
        message = message[: MAX_MESSAGE_CHARS - 3] + "..."
    body = {"error": {"code": code, "message": message}}
    return JSONResponse(body, status_code=status, headers=dict(headers or {}))


def _code_for(status: int) -> str:
    try:
        return HTTPStatus(status).phrase.lower().replace(" ", "_").replace("-", "_")
    except ValueError:
        return "http_error"


def validation_message(errors: Any) -> str:
    """`field: problem; field: problem` from pydantic/FastAPI error dicts (the first ten, each
    cut short: an error body stays small whatever the request held)."""
    errors = list(errors)
    parts = []
    for err in errors[:_MAX_LISTED]:
        loc = [str(p) for p in err.get("loc", ()) if p not in ("body", "query", "form")]
        msg = str(err.get("msg", "invalid value")).removeprefix("Value error, ")[:300]
        where = ".".join(loc)[:100]
        parts.append(f"{where}: {msg}" if loc else msg)
    if len(errors) > _MAX_LISTED:
        parts.append(f"and {len(errors) - _MAX_LISTED} more problems")
    return "; ".join(parts) or "invalid request"


def shorten(value: str, limit: int = 64) -> str:
    """`value` quoted, cut to `limit` characters: ids and names echoed in error messages."""
    return repr(value if len(value) <= limit else value[: limit - 3] + "...")


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def _api(request: Request, exc: ApiError) -> JSONResponse:
        return error_response(request, exc.status, exc.code, exc.message, exc.headers)

    @app.exception_handler(AudioError)
    async def _audio(request: Request, exc: AudioError) -> JSONResponse:
        return error_response(request, AUDIO_STATUS.get(exc.code, 400), exc.code, exc.message)

    @app.exception_handler(ModelError)
    async def _model(request: Request, exc: ModelError) -> JSONResponse:
        # A model named by the request that is missing or broken is the request's problem
        # (400); failing to fetch one from the Hub is ours, and may pass (503).
        status = 503 if type(exc) is ModelError else 400
        return error_response(request, status, exc.code, str(exc))

    @app.exception_handler(ClientDisconnect)
    async def _gone(request: Request, exc: ClientDisconnect) -> JSONResponse:
        # The client hung up mid-upload; nobody reads this, the status is for logs and metrics.
        return error_response(request, 499, "client_closed_request", "the client disconnected")

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        message = validation_message(exc.errors())
        return error_response(request, 422, "invalid_parameter", message)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        message = exc.detail if isinstance(exc.detail, str) else HTTPStatus(exc.status_code).phrase
        if exc.status_code == 404 and message == "Not Found":
            message = f"no route {request.method} {request.url.path}; see /docs"
        elif exc.status_code == 405:
            message = f"{request.method} is not allowed on {request.url.path}"
        return error_response(
            request, exc.status_code, _code_for(exc.status_code), message, exc.headers
        )

    # Not an exception handler for Exception: Starlette re-raises those after answering, so
    # the server would log every 500 twice. This middleware answers and logs it once.
    app.add_middleware(_Unexpected)


class _Unexpected:
    """Turn an unexpected exception into a 500 JSON error, logged once with its traceback."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracked(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, tracked)
        except Exception:
            request = Request(scope)
            # Logged in full here, answered without details: tracebacks stay in the server log.
            logger.exception("unhandled error on %s %s", request.method, request.url.path)
            if started:  # too late for an error body: the connection is closed
                return
            response = error_response(request, 500, "internal_error", "internal server error")
            await response(scope, receive, send)
