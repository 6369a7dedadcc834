"""Job workers: claim jobs from the store, run them through the scheduler, record the end.

`workers` threads each run one job at a time; the scheduler batches their chunks with every
other request in the process. One housekeeping thread renews the leases of running jobs (and
stores their progress), notices cancel requests and timeouts, re-queues jobs of dead workers
and purges old ones. `shutdown(grace)` stops claiming, lets running jobs finish while the grace
period allows, and hands the rest back to the queue.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import IO, Any

from hark.admission import ShuttingDownError
from hark.audio import AudioError
from hark.engine import Engine
from hark.jobs.download import fetch
from hark.jobs.errors import JobInputError
from hark.jobs.output import progress_payload, whisperx_output
from hark.jobs.records import Job, Status
from hark.jobs.store import JobStore
from hark.model_files import ModelError
from hark.options import TranscribeOptions
from hark.pipeline import Progress
from hark.policy import PolicyError, RequestPolicy
from hark.scheduler import CancelledError
from hark.settings import Settings

logger = logging.getLogger(__name__)

Notify = Callable[[Job], None]
MAX_ERROR_CHARS = 2000  # a job's stored error message, at most


@dataclass(eq=False)
class _Running:
    job: Job
    cancel: threading.Event = field(default_factory=threading.Event)
    reason: str | None = None  # cancelled | timeout | lost | shutdown
    progress: dict[str, Any] | None = None

    def stop(self, reason: str) -> None:
        if self.reason is None:
            self.reason = reason
        self.cancel.set()

    def report(self, progress: Progress) -> None:
        self.progress = progress_payload(progress)


class JobRunner:
    def __init__(
        self,
        store: JobStore,
        engine: Engine,
        settings: Settings,
        *,
        policy: RequestPolicy | None = None,
        on_finish: Notify | None = None,
        housekeeping: Callable[[], object] | None = None,
    ) -> None:
        self.store = store
        self.engine = engine
        self.settings = settings
        self.policy = policy or RequestPolicy.from_settings(settings)
        self.on_finish = on_finish or (lambda _job: None)
        # Run every few seconds with the reaper (the webhooks still owed).
        self.housekeeping = housekeeping or (lambda: None)
        self.worker_id = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        self._running: dict[str, _Running] = {}
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._wake = threading.Event()
        self._halt = threading.Event()  # housekeeping goes on while shutdown waits
        self._threads = [
            threading.Thread(target=self._work, name=f"hark-job-{i}", daemon=True)
            for i in range(settings.job_workers)
        ]
        self._housekeeper = threading.Thread(
            target=self._housekeep, name="hark-job-housekeeping", daemon=True
        )

    def start(self) -> None:
        for thread in [*self._threads, self._housekeeper]:
            thread.start()

    def wake(self) -> None:
        """A job was just submitted: look now instead of at the next poll."""
        self._wake.set()

    @property
    def busy(self) -> int:
        with self._lock:
            return len(self._running)

    def shutdown(self, grace: float) -> None:
        deadline = time.monotonic() + grace
        self._stopping.set()
        self._wake.set()
        # Let running jobs finish, keeping time to hand the others back.
        finish_by = deadline - min(5.0, grace * 0.3)
        while self.busy and time.monotonic() < finish_by:
            time.sleep(0.05)
        with self._lock:
            left = list(self._running.values())
        for running in left:
            running.stop("shutdown")
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic() - 0.5))
        with self._lock:
            stuck = list(self._running.values())
        for running in stuck:  # still preparing (not cancellable): re-queue it from here
            self._release(running.job)
        self._halt.set()
        self._housekeeper.join(1.0)

    # -- workers -------------------------------------------------------------------------

    def _work(self) -> None:
        poll = 0.2
        while not self._stopping.is_set():
            try:
                job = self.store.claim(self.worker_id)
            except Exception:  # the store is down: keep trying, it may come back
                logger.exception("claiming a job failed")
                job = None
            if job is None:
                self._wake.wait(poll)
                self._wake.clear()
                continue
            self._execute(job)

    def _execute(self, job: Job) -> None:
        running = _Running(job)
        with self._lock:
            self._running[job.id] = running
        if self._stopping.is_set():
            running.stop("shutdown")
        # The owner is the API key's name (never the key itself).
        logger.info("job %s of %s started (attempt %d)", job.id, job.owner or "-", job.attempts)
        status, output, error = Status.FAILED, None, None
        try:
            if running.cancel.is_set():
                raise CancelledError("stopped before it started")
            output = self._transcribe(job, running)
            status = Status.COMPLETED
        except (CancelledError, ShuttingDownError):
            if running.reason in ("shutdown", "lost", None):
                self._forget(job)
                if running.reason != "lost":
                    self._release(job)
                return
            status = Status.TIMED_OUT if running.reason == "timeout" else Status.CANCELLED
            if status is Status.TIMED_OUT:
                error = f"the job ran longer than its {self._timeout(job):g} s limit"
        except (JobInputError, AudioError, ModelError, PolicyError) as exc:
            error = str(exc)
        except Exception as exc:  # one job's failure must not stop the worker
            logger.exception("job %s failed", job.id)
            error = f"internal error while transcribing ({type(exc).__name__}: {exc})"
        self._forget(job)
        if error is not None and len(error) > MAX_ERROR_CHARS:  # stored records stay small
            error = error[: MAX_ERROR_CHARS - 3] + "..."
        try:
            final = self.store.finish(job.id, self.worker_id, status, output, error)
        except Exception:
            logger.exception("recording the end of job %s failed; its lease will expire", job.id)
            return
        if final is not None:
            logger.info("job %s %s", job.id, final.status)
            self.on_finish(final)

    def _transcribe(self, job: Job, running: _Running) -> dict[str, Any]:
        # The policy again here: the job may predate the server's current settings.
        options = self.policy.options(TranscribeOptions.model_validate(job.options))
        with self._audio(job) as audio:
            # The jobs lane: the job workers bound how many jobs wait for a slot.
            transcript = self.engine.transcribe(
                audio, options, progress=running.report, cancel=running.cancel, lane="jobs"
            )
        return whisperx_output(transcript, job.output_formats)

    @contextlib.contextmanager
    def _audio(self, job: Job) -> Iterator[bytes | IO[bytes]]:
        """The job's encoded audio: its link downloaded by the policy's fetcher (spooled to
        disk above 1 MiB, so a long download never sits whole in memory), or the bytes the
        store kept."""
        if job.audio_url is not None:
            with fetch(job.audio_url, self.policy.fetcher()) as fetched:
                yield fetched.file
            return
        data = self.store.audio(job.id)
        if data is None:
            raise JobInputError("the job's audio is no longer stored; submit it again")
        yield data

    def _timeout(self, job: Job) -> float:
        """The job's execution limit: its policy's, but never more than the server's."""
        return self.policy.job_timeout(job.timeout_s)

    def _forget(self, job: Job) -> None:
        with self._lock:
            self._running.pop(job.id, None)

    def _release(self, job: Job) -> None:
        try:
            if self.store.release(job.id, self.worker_id):
                logger.info("job %s handed back to the queue", job.id)
        except Exception:  # its lease expires, and another worker takes it then
            logger.exception("handing job %s back failed", job.id)

    # -- housekeeping --------------------------------------------------------------------

    def _housekeep(self) -> None:
        beat = min(1.0, self.settings.job_lease_s / 3)
        next_reap = next_purge = next_chores = 0.0
        while not self._halt.wait(beat):
            now = time.monotonic()
            try:
                self._heartbeat()
                if now >= next_reap:
                    if reaped := self.store.reap():
                        logger.warning("re-queued %d jobs whose worker stopped answering", reaped)
                        self._wake.set()
                    next_reap = now + self.settings.job_lease_s / 2
                if now >= next_purge:
                    if purged := self.store.purge():
                        logger.info("purged %d finished jobs past retention", purged)
                    next_purge = now + min(60.0, self.settings.job_retention_s / 4)
                if now >= next_chores:
                    self.housekeeping()
                    next_chores = now + 2.0
            except Exception:
                logger.exception("job housekeeping failed")

    def _heartbeat(self) -> None:
        with self._lock:
            running = list(self._running.values())
        for r in running:
            answer = self.store.heartbeat(r.job.id, self.worker_id, r.progress)
            if answer is None:
                r.stop("lost")
            elif answer:
                r.stop("cancelled")
            started = r.job.started_at or time.time()
            if (limit := self._timeout(r.job)) and time.time() - started > limit:
                r.stop("timeout")
