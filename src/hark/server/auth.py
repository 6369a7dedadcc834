"""Optional bearer-token authentication (`HARK_API_KEYS`), compared in constant time.

A request with a valid key carries the key's name (`request.state.caller`): jobs belong to it,
and logs and metrics show it. The key itself is never stored, logged or counted.
"""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from hark.server.errors import ApiError
from hark.settings import Settings

# auto_error=False: the missing-key answer is ours (JSON error body), the scheme is for /docs.
bearer = HTTPBearer(auto_error=False, description="An API key from HARK_API_KEYS.")
Credentials = Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]


def key_name(settings: Settings, presented: str) -> str | None:
    """The name of the API key `presented`, or None when it is not one of the keys."""
    given = presented.encode()
    found = None
    # Every key is compared, whatever matched earlier, so timing says nothing about which.
    for name, key in settings.named_keys():
        if hmac.compare_digest(given, key.encode()) and found is None:
            found = name
    return found


def key_matches(settings: Settings, presented: str) -> bool:
    return key_name(settings, presented) is not None


def caller(request: Request) -> str | None:
    """The name of the key the request came with; None on an open server."""
    return getattr(request.state, "caller", None)


def _check(request: Request, credentials: HTTPAuthorizationCredentials | None) -> None:
    settings: Settings = request.app.state.settings
    if not settings.api_keys:
        return
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise ApiError(
            401,
            "unauthorized",
            "an API key is required: send 'Authorization: Bearer <key>'",
            headers={"WWW-Authenticate": "Bearer"},
        )
    name = key_name(settings, credentials.credentials)
    if name is None:
        raise ApiError(
            401, "unauthorized", "invalid API key", headers={"WWW-Authenticate": "Bearer"}
        )
    request.state.caller = name
    metrics = getattr(request.app.state, "metrics", None)
    if metrics is not None:
        metrics.key_requests.labels(key=name).inc()


async def require_key(request: Request, credentials: Credentials) -> None:
    """Dependency for the API routes."""
    _check(request, credentials)


async def require_key_for_health(request: Request, credentials: Credentials) -> None:
    """/health and /ready: open when `HARK_OPEN_HEALTH` is set (the default)."""
    if not request.app.state.settings.open_health:
        _check(request, credentials)


async def require_key_for_metrics(request: Request, credentials: Credentials) -> None:
    """/metrics: open when `HARK_OPEN_METRICS` is set (the default)."""
    if not request.app.state.settings.open_metrics:
        _check(request, credentials)
