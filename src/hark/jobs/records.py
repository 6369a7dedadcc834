"""One job's record, as every store keeps it, and its RunPod-shaped status JSON."""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import asdict, dataclass, field, fields
from enum import StrEnum
from typing import Any


class Status(StrEnum):
    IN_QUEUE = "IN_QUEUE"
    IN_PROGRESS = "IN_PROGRESS"
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"
    CANCELLED = "CANCELLED"
    TIMED_OUT = "TIMED_OUT"

    @property
    def final(self) -> bool:
        return self not in (Status.IN_QUEUE, Status.IN_PROGRESS)


RETRYABLE = (Status.FAILED, Status.TIMED_OUT)
# The payload fields kept as JSON text in the stores.
_JSON_FIELDS = ("options", "output_formats", "output", "progress")
_FLOAT_FIELDS = (
    "timeout_s",
    "created_at",
    "started_at",
    "finished_at",
    "lease_until",
    "webhook_due",
)


@dataclass
class Job:
    """A job. Times are epoch seconds; `audio_url` is None when the audio was uploaded (the
    stores keep those bytes apart, and delete them when the job ends)."""

    id: str = field(default_factory=lambda: f"{uuid.uuid4()}-h1")
    status: Status = Status.IN_QUEUE
    options: dict[str, Any] = field(default_factory=dict)
    output_formats: list[str] = field(default_factory=list)
    audio_url: str | None = None
    webhook: str | None = None
    timeout_s: float = 0.0
    created_at: float = field(default_factory=time.time)
    started_at: float | None = None
    finished_at: float | None = None
    output: dict[str, Any] | None = None
    error: str | None = None
    progress: dict[str, Any] | None = None
    attempts: int = 0
    worker: str | None = None
    lease_until: float | None = None
    cancel_requested: bool = False
    owner: str | None = None
    """The name of the API key that submitted the job (None on an open server): only that
    key sees it."""
    webhook_due: float | None = None
    """Set while a webhook delivery is owed: until this time the process that ended the job
    is delivering it; after it, any process may (the one that ended it may have died)."""

    def to_row(self) -> dict[str, Any]:
        """Flat values for a SQL row or a Redis hash (JSON text for nested ones)."""
        row = asdict(self)
        for name in _JSON_FIELDS:
            row[name] = None if row[name] is None else json.dumps(row[name])
        row["status"] = str(self.status)
        row["cancel_requested"] = int(self.cancel_requested)
        return row

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> Job:
        names = {f.name: f for f in fields(cls)}
        values: dict[str, Any] = {}
        for key, value in row.items():
            if key not in names or value is None or value == "":
                continue
            if key in _JSON_FIELDS:
                value = json.loads(value)
            elif key == "status":
                value = Status(value)
            elif key == "cancel_requested":
                value = bool(int(value))
            elif key in _FLOAT_FIELDS:
                value = float(value)
            elif key == "attempts":
                value = int(value)
            values[key] = value
        return cls(**values)

    def public(self) -> dict[str, Any]:
        """The `/status` body, RunPod's shape: progress rides in `output` while running (as
        RunPod's `progress_update` does) and also in `progress`."""
        body: dict[str, Any] = {"id": self.id, "status": str(self.status)}
        now = time.time()
        started = self.started_at
        body["delayTime"] = _ms((started or now) - self.created_at)
        if started is not None:
            body["executionTime"] = _ms((self.finished_at or now) - started)
        if self.status is Status.COMPLETED:
            body["output"] = self.output
        elif self.status is Status.IN_PROGRESS and self.progress is not None:
            body["output"] = self.progress
            body["progress"] = self.progress
        if self.error is not None and self.status.final:
            body["error"] = self.error
        if self.worker and self.status is not Status.IN_QUEUE:
            body["workerId"] = self.worker
        if self.attempts > 1:
            body["retries"] = self.attempts - 1
        return body


def _ms(seconds: float) -> int:
    return max(0, round(seconds * 1000))
