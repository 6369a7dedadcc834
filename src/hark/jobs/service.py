"""The jobs side of a server process: the store, the workers, webhooks, built from Settings.

The store opens with the app, so `/run` and `/status` work while the model still loads; the
workers start once the scheduler exists (`start(scheduler)`).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from hark.engine import Engine
from hark.jobs.backends import open_store
from hark.jobs.download import check_link
from hark.jobs.errors import AudioFetchError
from hark.jobs.records import Job, Status
from hark.jobs.runner import JobRunner
from hark.jobs.store import Idempotency, JobStore, Policy
from hark.jobs.submit import BadJobRequest, new_job
from hark.jobs.webhook import WebhookSender
from hark.options import TranscribeOptions
from hark.policy import PolicyError, RequestPolicy
from hark.settings import Settings
from hark.units import mib_bytes

logger = logging.getLogger(__name__)


class JobService:
    def __init__(
        self,
        settings: Settings,
        store: JobStore | None = None,
        policy: RequestPolicy | None = None,
    ) -> None:
        self.settings = settings
        # The server passes its own, so routes and job workers apply one policy object.
        self.policy = policy or RequestPolicy.from_settings(settings)
        secret = settings.webhook_secret.get_secret_value() if settings.webhook_secret else None
        self.webhooks = WebhookSender(
            secret,
            attempts=settings.webhook_attempts,
            backoff_s=settings.webhook_backoff_s,
            timeout_s=settings.webhook_timeout_s,
            allow_private=settings.allow_private_urls,
        )
        policy = Policy(
            lease_s=settings.job_lease_s,
            max_attempts=settings.job_max_attempts,
            retention_s=settings.job_retention_s,
            webhook_lease_s=self.webhooks.lease_s,
            failed_audio_s=settings.job_failed_audio_retention_s,
            max_bytes=mib_bytes(settings.job_store_max_mb),
        )
        self.store = store or open_store(settings.job_store_url, policy)
        self.runner: JobRunner | None = None
        # Called with every job that ends in this process (metrics); errors are logged.
        self.on_finish: list[Callable[[Job], None]] = []

    def start(self, engine: Engine) -> None:
        if self.settings.job_workers == 0:
            return  # an API-only replica: other replicas run the jobs
        self.runner = JobRunner(
            self.store,
            engine,
            self.settings,
            policy=self.policy,
            on_finish=self._finished,
            housekeeping=self.redeliver_webhooks,
        )
        self.runner.start()
        logger.info("job workers started: %s", self.runner.worker_id)

    def submit(
        self, body: Any, idempotency: Idempotency | None = None, owner: str | None = None
    ) -> Job:
        """Store a new job from a `/run` body for API key `owner`; raises BadJobRequest for a
        non-job body, StoreFullError when the store is at its size limit. With `idempotency`,
        a retry of a submission gets the job the first one stored (and IdempotencyConflict
        when the key came with another request)."""
        self.store.check_room()
        job, audio = new_job(body, self.policy.max_upload_bytes)
        job.owner = owner
        if job.webhook:
            self._check_webhook(job.webhook)
        if not job.status.final:
            try:
                self.policy.check_models(TranscribeOptions.model_validate(job.options))
            except PolicyError as exc:  # fails at once, as any input that cannot run
                job.status, job.error, job.finished_at = Status.FAILED, str(exc), time.time()
                job.options, audio = {}, None
        stored = self.store.submit(job, audio, idempotency)
        if stored.id != job.id:
            return stored  # a retry: the first submission is already on its way
        if job.status.final:
            self._finished(job)
        elif self.runner is not None:
            self.runner.wake()
        return job

    def workers(self) -> dict[str, int]:
        """RunPod's /health `workers`: this process's job slots."""
        busy = self.runner.busy if self.runner else 0
        slots = self.settings.job_workers if self.runner else 0
        return {"idle": max(0, slots - busy), "running": busy}

    def shutdown(self, grace: float) -> None:
        if self.runner is not None:
            self.runner.shutdown(max(0.5, grace - 2.0))
        self.webhooks.close(timeout=1.0)

    def close(self) -> None:
        self.store.close()

    def redeliver_webhooks(self) -> int:
        """Deliver the webhooks owed for jobs whose process ended them and then died (or was
        cut short), and for jobs ended by cancel or by the reaper; how many."""
        jobs = self.store.claim_webhooks()
        for job in jobs:
            logger.info("delivering the owed webhook of job %s (%s)", job.id, job.status)
            self._send_webhook(job)
        return len(jobs)

    def _send_webhook(self, job: Job) -> None:
        if job.webhook:
            job_id = job.id
            self.webhooks.send(job.webhook, job.public(), lambda: self.store.webhook_sent(job_id))

    def _finished(self, job: Job) -> None:
        self._send_webhook(job)
        for observer in self.on_finish:
            try:
                observer(job)
            except Exception:
                logger.exception("job observer failed")

    def _check_webhook(self, url: str) -> None:
        try:
            check_link(url, field="webhook", allow_private=self.policy.allow_private_urls)
        except AudioFetchError as exc:
            raise BadJobRequest(str(exc)) from None
