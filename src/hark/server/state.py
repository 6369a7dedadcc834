"""What the routes share: settings and the request policy built from them, the engine once
loaded, the executor, the jobs and the metrics."""

from __future__ import annotations

from dataclasses import dataclass, field

from fastapi import Request

from hark.engine import Engine
from hark.jobs.service import JobService
from hark.live.registry import LiveRegistry
from hark.live.windows import FinalInput
from hark.policy import RequestPolicy
from hark.server.errors import ApiError
from hark.server.executor import InferenceExecutor
from hark.server.metrics import Metrics
from hark.settings import Settings


@dataclass
class ServerState:
    settings: Settings
    metrics: Metrics
    executor: InferenceExecutor
    jobs: JobService
    live: LiveRegistry
    policy: RequestPolicy
    engine: Engine | None = None
    # HARK_LIVE_FINAL_INPUT, decided at load (streams.choose_final_input).
    live_final_input: FinalInput = field(default_factory=lambda: FinalInput(False))
    load_error: str | None = None
    draining: bool = False

    @property
    def max_upload_bytes(self) -> int:
        return self.policy.max_upload_bytes

    def loaded(self) -> Engine:
        """The engine, or 503 while its model is still loading (or failed to)."""
        if self.engine is not None:
            return self.engine
        if self.load_error:
            raise ApiError(503, "model_unavailable", f"the model failed to load: {self.load_error}")
        raise ApiError(
            503,
            "model_loading",
            "the model is still loading; retry shortly",
            headers={"Retry-After": "5"},
        )


def get_state(request: Request) -> ServerState:
    state: ServerState = request.app.state.hark
    return state
