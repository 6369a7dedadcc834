"""`GET /`: the web page, and its static files under `/ui/`.

The page (`hark/server/static/ui/`) is plain HTML, CSS and JavaScript with no build step and
no external resources, so it works in an air-gapped cluster. It posts to `asr` with
`output=all` and renders the answer; see `app.js`. Its Live mode streams the microphone to
`GET /v1/listen` (a WebSocket) as PCM16 from an AudioWorklet (`live-worklet.js`). Relative
URLs keep it working behind a path prefix. The routes stay out of the OpenAPI schema.
"""

from __future__ import annotations

import hashlib
from functools import lru_cache
from importlib.resources import files
from importlib.resources.abc import Traversable
from typing import Any

from fastapi import APIRouter, HTTPException, Request, Response
from fastapi.responses import HTMLResponse, JSONResponse
from starlette.routing import NoMatchFound

__all__ = ["STATIC_DIR", "router"]

STATIC_DIR: Traversable = files("hark") / "server" / "static" / "ui"
"""The page's files, inside the installed package."""

_MEDIA_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".ico": "image/x-icon",
    ".json": "application/json",
}

# Everything the page loads comes from this server; recorded/uploaded audio and the
# download files are blob: URLs made in the page.
_CSP = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data: blob:",
        "media-src 'self' blob:",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'self'",
        "form-action 'self'",
        "frame-ancestors 'self'",
    ]
)
_HEADERS = {
    "Cache-Control": "no-cache",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}

router = APIRouter(include_in_schema=False)


@lru_cache(maxsize=32)
def _asset(name: str) -> tuple[bytes, str, str] | None:
    """Content, media type and ETag of a file of the page, or None when there is none."""
    suffix = "." + name.rsplit(".", 1)[-1].lower() if "." in name else ""
    if name.startswith(".") or "/" in name or "\\" in name or suffix not in _MEDIA_TYPES:
        return None
    resource = STATIC_DIR / name
    if not resource.is_file():
        return None
    content = resource.read_bytes()
    etag = '"' + hashlib.sha256(content).hexdigest()[:20] + '"'
    return content, _MEDIA_TYPES[suffix], etag


def _serve(request: Request, name: str, extra: dict[str, str] | None = None) -> Response:
    asset = _asset(name)
    if asset is None:
        raise HTTPException(status_code=404, detail=f"no such file: /ui/{name}")
    content, media_type, etag = asset
    headers = {**_HEADERS, "ETag": etag, **(extra or {})}
    if etag in request.headers.get("if-none-match", ""):
        return Response(status_code=304, headers=headers)
    return Response(content, media_type=media_type, headers=headers)


@router.get("/", response_class=HTMLResponse, summary="Web page")
def index(request: Request) -> Response:
    """The transcription page."""
    return _serve(request, "index.html", {"Content-Security-Policy": _CSP})


@router.get("/ui/config.json", summary="Web page configuration")
def config(request: Request) -> JSONResponse:
    """What the page needs to know about this server: languages, whether a key is needed."""
    settings: Any = getattr(request.app.state, "settings", None)
    body: dict[str, Any] = {"languages": _languages()}
    body["live"] = _has_live_route(request)
    if settings is not None:
        body["auth"] = bool(getattr(settings, "api_keys", None))
        max_upload_mb = getattr(settings, "max_upload_mb", None)
        if max_upload_mb:
            body["max_upload_mb"] = max_upload_mb
    return JSONResponse(body, headers={"Cache-Control": "no-cache"})


@router.get("/ui/{name}", summary="Web page file")
def asset(request: Request, name: str) -> Response:
    """A static file of the page (script, style sheet, icon)."""
    return _serve(request, name)


def _has_live_route(request: Request) -> bool:
    """Whether this app serves `GET /v1/listen` (the page offers Live mode only then). Looked
    up by route name: included routers are not plain entries of `app.routes` in FastAPI."""
    try:
        return str(request.app.url_path_for("listen")) == "/v1/listen"
    except NoMatchFound:
        return False


@lru_cache(maxsize=1)
def _languages() -> list[str]:
    from faster_whisper.tokenizer import _LANGUAGE_CODES

    return list(_LANGUAGE_CODES)
