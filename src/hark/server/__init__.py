"""The HTTP API (`hark serve`): FastAPI routers over one shared `hark.engine.Engine`."""

from __future__ import annotations

from typing import Any

__all__ = ["create_app"]


def __getattr__(name: str) -> Any:
    # Lazy, so importing one submodule does not import every router.
    if name == "create_app":
        from hark.server.app import create_app

        return create_app
    raise AttributeError(f"module 'hark.server' has no attribute {name!r}")
