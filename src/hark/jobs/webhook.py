"""Webhook delivery: POST the final job (the `/status` body) with retries and backoff.

With a secret, `X-Hark-Signature: sha256=<hex>` is the HMAC-SHA256 of the exact body bytes, so a
receiver recomputes it over what it read (`verify_signature`). Delivery happens in a background
thread and never affects the job's result. `done` is called once a delivery succeeded or all
its attempts failed, not when shutdown interrupts it: the store then still owes it, and another
process (or this one after a restart) delivers it (`JobStore.claim_webhooks`).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor, wait
from typing import Any

from hark.net import Fetcher, FetchError, NonPublicAddressError

logger = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-Hark-Signature"


def sign(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def verify_signature(secret: str, body: bytes, header: str | None) -> bool:
    return header is not None and hmac.compare_digest(sign(secret, body), header)


class WebhookSender:
    def __init__(
        self,
        secret: str | None = None,
        attempts: int = 5,
        backoff_s: float = 2.0,
        timeout_s: float = 10.0,
        allow_private: bool = False,
    ) -> None:
        self.secret = secret
        self.allow_private = allow_private
        self.attempts = attempts
        self.backoff_s = backoff_s
        self.timeout_s = timeout_s
        # Resolved and checked at every attempt, and sent to the checked address: a name that
        # turns private after the job was accepted reaches nothing.
        self._fetcher = Fetcher(allow_private=allow_private, timeout_s=timeout_s)
        self._pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="hark-webhook")
        self._stop = threading.Event()
        self._pending: set[Future[bool]] = set()

    @property
    def lease_s(self) -> float:
        """The longest one delivery can take, all attempts and waits included, plus slack:
        how long another process must wait before it may deliver the same job again."""
        waits = self.backoff_s * (2 ** (self.attempts - 1) - 1)
        return self.attempts * self.timeout_s + waits + 10.0

    def send(self, url: str, job: dict[str, Any], done: Callable[[], None] | None = None) -> None:
        """Deliver in the background; then `done()` (not if shutdown cut the delivery short)."""
        try:
            future = self._pool.submit(self._deliver_then, url, job, done)
        except RuntimeError:  # shutting down: the store still owes the delivery
            return
        self._pending.add(future)
        future.add_done_callback(self._pending.discard)

    def _deliver_then(self, url: str, job: dict[str, Any], done: Callable[[], None] | None) -> bool:
        delivered = self.deliver(url, job)
        if done is not None and (delivered or not self._stop.is_set()):
            try:
                done()
            except Exception:
                logger.exception("recording the webhook of job %s failed", job["id"])
        return delivered

    def deliver(self, url: str, job: dict[str, Any]) -> bool:
        body = json.dumps(job).encode()
        headers = {"Content-Type": "application/json", "User-Agent": "hark-webhook"}
        if self.secret:
            headers[SIGNATURE_HEADER] = sign(self.secret, body)
        delay = self.backoff_s
        if self._stop.is_set():
            return False
        for attempt in range(1, self.attempts + 1):
            headers["X-Hark-Attempt"] = str(attempt)
            try:
                response = self._fetcher.post(url, body, headers)
                if response.is_success:
                    return True
                reason = f"HTTP {response.status_code}"
            except NonPublicAddressError as exc:
                logger.warning("webhook for job %s refused: %s", job["id"], exc)
                return False
            except FetchError as exc:
                reason = str(exc) or type(exc).__name__
            logger.warning(
                "webhook for job %s, attempt %d/%d: %s",
                job["id"],
                attempt,
                self.attempts,
                reason,
            )
            if attempt < self.attempts and self._stop.wait(delay):
                break
            delay *= 2
        return False

    def close(self, timeout: float = 5.0) -> None:
        """Give deliveries in flight up to `timeout` seconds, then stop retrying."""
        self._pool.shutdown(wait=False, cancel_futures=True)
        wait(list(self._pending), timeout=timeout)
        self._stop.set()
