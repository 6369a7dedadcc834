"""What a job store does (`hark.jobs.backends.open_store(url)` picks SQLite for one host or
Redis for replicas).

Every state change is one atomic step in the store, so several threads and processes can share
it: a job is claimed by exactly one worker, which holds a lease it renews; a job whose lease
runs out (its worker died) goes back to the queue, and fails after `max_attempts` runs.
A job that ends with a webhook owes a delivery (`webhook_due`) in the same step, so a crash
between the end and the delivery cannot lose it: `claim_webhooks` hands it to another process.
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from hark.jobs.records import Job, Status
from hark.units import format_mib

# Seconds since the epoch. Stores take one so that tests can move time instead of sleeping.
Clock = Callable[[], float]


class StoreFullError(RuntimeError):
    """The store holds `Policy.max_bytes` already: new jobs wait until old ones are purged."""


class IdempotencyConflict(ValueError):
    """An idempotency key already used for a different request."""


@dataclass(frozen=True)
class Idempotency:
    """A client's key for one submission (retries of it send the same key), and a digest of
    the request, so the same key with another request is refused rather than confused."""

    key: str
    fingerprint: str

    def check(self, fingerprint: str, job_id: str) -> None:
        if fingerprint != self.fingerprint:
            raise IdempotencyConflict(
                f"Idempotency-Key already used for another request (job {job_id}); "
                "use a new key for a new job"
            )


@dataclass(frozen=True)
class Policy:
    lease_s: float = 30.0
    max_attempts: int = 3
    retention_s: float = 86400.0
    # How long the process that ended a job has to deliver its webhook before any other
    # process may deliver it again (at least one delivery, possibly two after a crash).
    webhook_lease_s: float = 120.0
    # How long the audio of a FAILED / TIMED_OUT job is kept for a retry (then deleted; the
    # job itself stays for retention_s).
    failed_audio_s: float = 3600.0
    # New jobs are refused once the store holds this many bytes (0: no limit).
    max_bytes: int = 0


class JobStore(ABC):
    def __init__(self, policy: Policy, clock: Clock = time.time) -> None:
        self.policy = policy
        # Every lease, due time and age the store records or compares is read from here.
        self.clock = clock

    @abstractmethod
    def submit(self, job: Job, audio: bytes | None, idempotency: Idempotency | None = None) -> Job:
        """Persist a new job (queued, or already final when its input was invalid) and return
        it; with `idempotency`, a job already submitted under that key is returned instead and
        nothing is stored (IdempotencyConflict if it came from a different request)."""

    @abstractmethod
    def get(self, job_id: str) -> Job | None: ...

    @abstractmethod
    def audio(self, job_id: str) -> bytes | None:
        """The uploaded audio, until the job ends."""

    @abstractmethod
    def claim(self, worker: str) -> Job | None:
        """The oldest queued job, now IN_PROGRESS under `worker`'s lease; None if none."""

    @abstractmethod
    def heartbeat(self, job_id: str, worker: str, progress: dict[str, Any] | None) -> bool | None:
        """Renew the lease (and store progress). Returns whether cancel was requested, or None
        when `worker` no longer holds the job (lease lost: stop working on it)."""

    @abstractmethod
    def finish(
        self,
        job_id: str,
        worker: str,
        status: Status,
        output: dict[str, Any] | None = None,
        error: str | None = None,
    ) -> Job | None:
        """Record the end of a job `worker` holds; deletes its audio (kept for a retry when
        FAILED/TIMED_OUT). Returns the final job, or None when the lease was lost."""

    @abstractmethod
    def release(self, job_id: str, worker: str) -> bool:
        """Put a job `worker` holds back in the queue (graceful shutdown), first in line."""

    @abstractmethod
    def cancel(self, job_id: str) -> Job | None:
        """Queued: CANCELLED at once. Running: cancel requested (the worker stops it)."""

    @abstractmethod
    def retry(self, job_id: str) -> Job | None:
        """A FAILED or TIMED_OUT job back in the queue (unchanged job if not retryable)."""

    @abstractmethod
    def reap(self) -> int:
        """Re-queue (or fail) running jobs whose lease ran out; how many."""

    @abstractmethod
    def purge(self) -> int:
        """Delete jobs that ended more than `retention_s` ago; how many."""

    @abstractmethod
    def webhook_sent(self, job_id: str) -> None:
        """The job's webhook was delivered (or given up on): nothing is owed any more."""

    @abstractmethod
    def claim_webhooks(self, limit: int = 20) -> list[Job]:
        """Ended jobs whose webhook is owed and past its delivery lease, each now leased to the
        caller for `webhook_lease_s` (a process that ended a job and died before delivering)."""

    @abstractmethod
    def counts(self) -> dict[str, int]:
        """RunPod's /health `jobs`: completed, failed, inProgress, inQueue, retried (a /retry,
        or a re-queue after the job's worker died)."""

    @abstractmethod
    def size_bytes(self) -> int:
        """About how many bytes the store holds (for `Policy.max_bytes`)."""

    def check_room(self) -> None:
        """StoreFullError when the store is at its size limit."""
        limit = self.policy.max_bytes
        if limit and self.size_bytes() >= limit:
            raise StoreFullError(
                f"the job store is full ({format_mib(limit)}); retry once finished jobs are purged"
            )

    def close(self) -> None:
        return None
