"""The embedded job store: one SQLite file in WAL mode, safe for threads and processes.

Each change is one short `BEGIN IMMEDIATE` transaction, so a job acknowledged by `/run` is on
disk before the answer leaves, and a kill -9 at any point leaves a consistent database.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import fields
from pathlib import Path
from typing import Any

from hark.jobs.records import RETRYABLE, Job, Status
from hark.jobs.store import Clock, Idempotency, JobStore, Policy

_COLUMNS = [f.name for f in fields(Job)]
_SCHEMA = f"""
CREATE TABLE IF NOT EXISTS jobs (
    {", ".join(c + (" TEXT PRIMARY KEY" if c == "id" else "") for c in _COLUMNS)},
    audio BLOB
);
CREATE TABLE IF NOT EXISTS stats (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS idempotency (
    key TEXT PRIMARY KEY, job_id TEXT NOT NULL, fingerprint TEXT NOT NULL
);
"""
_INDEX = "CREATE INDEX IF NOT EXISTS jobs_queue ON jobs (status, created_at)"
_SELECT = f"SELECT {', '.join(_COLUMNS)} FROM jobs"


class SqliteStore(JobStore):
    def __init__(self, path: str, policy: Policy, clock: Clock = time.time) -> None:
        super().__init__(policy, clock)
        if path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        # One connection behind a lock: SQLite serialises writers anyway.
        self._db = sqlite3.connect(path, timeout=30, isolation_level=None, check_same_thread=False)
        self._db.row_factory = sqlite3.Row
        self._lock = threading.Lock()
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")  # acknowledged means on disk
        # The WAL file is truncated back to this after each checkpoint instead of keeping its
        # largest size forever (a burst of big uploads left hundreds of MB behind).
        self._db.execute("PRAGMA journal_size_limit=67108864")
        self._db.executescript(_SCHEMA)
        # A database made by an older Hark: add the columns Job has gained since.
        have = {row[1] for row in self._db.execute("PRAGMA table_info(jobs)")}
        for column in _COLUMNS:
            if column not in have:
                self._db.execute(f"ALTER TABLE jobs ADD COLUMN {column}")
        self._db.execute(_INDEX)

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def _one(self, db: sqlite3.Connection, job_id: str) -> Job | None:
        row = db.execute(f"{_SELECT} WHERE id = ?", (job_id,)).fetchone()
        return Job.from_row(dict(row)) if row else None

    def _update(self, db: sqlite3.Connection, job_id: str, **values: Any) -> None:
        sets = ", ".join(f"{k} = ?" for k in values)
        db.execute(f"UPDATE jobs SET {sets} WHERE id = ?", (*values.values(), job_id))

    def _bump(self, db: sqlite3.Connection, name: str) -> None:
        db.execute(
            "INSERT INTO stats VALUES (?, 1) ON CONFLICT(name) DO UPDATE SET value = value + 1",
            (name,),
        )

    def _owe_webhook(self, db: sqlite3.Connection, job_id: str, due: float) -> None:
        db.execute(
            "UPDATE jobs SET webhook_due = ? WHERE id = ? AND webhook IS NOT NULL", (due, job_id)
        )

    def submit(self, job: Job, audio: bytes | None, idempotency: Idempotency | None = None) -> Job:
        if job.status.final and job.webhook:
            job.webhook_due = self.clock() + self.policy.webhook_lease_s
        row = job.to_row()
        marks = ", ".join("?" * (len(row) + 1))
        with self._tx() as db:
            if idempotency is not None:
                known = db.execute(
                    "SELECT job_id, fingerprint FROM idempotency WHERE key = ?",
                    (idempotency.key,),
                ).fetchone()
                earlier = self._one(db, known[0]) if known else None
                if earlier is not None:
                    idempotency.check(known[1], earlier.id)
                    return earlier
                db.execute(  # new, or its job was purged: the key starts over
                    "INSERT OR REPLACE INTO idempotency VALUES (?, ?, ?)",
                    (idempotency.key, job.id, idempotency.fingerprint),
                )
            db.execute(
                f"INSERT INTO jobs ({', '.join(row)}, audio) VALUES ({marks})",
                (*row.values(), audio),
            )
            if job.status.final:
                self._bump(db, job.status.lower())
        return job

    def get(self, job_id: str) -> Job | None:
        with self._lock:
            return self._one(self._db, job_id)

    def audio(self, job_id: str) -> bytes | None:
        with self._lock:
            row = self._db.execute("SELECT audio FROM jobs WHERE id = ?", (job_id,)).fetchone()
        return None if row is None else row[0]

    def claim(self, worker: str) -> Job | None:
        now = self.clock()
        with self._tx() as db:
            row = db.execute(
                f"{_SELECT} WHERE status = ? ORDER BY created_at LIMIT 1", (Status.IN_QUEUE,)
            ).fetchone()
            if row is None:
                return None
            job = Job.from_row(dict(row))
            job.status, job.worker, job.started_at = Status.IN_PROGRESS, worker, now
            job.attempts += 1
            job.lease_until = now + self.policy.lease_s
            job.progress = None
            self._update(
                db,
                job.id,
                status=job.status,
                worker=worker,
                started_at=now,
                attempts=job.attempts,
                lease_until=job.lease_until,
                progress=None,
            )
            return job

    def heartbeat(self, job_id: str, worker: str, progress: dict[str, Any] | None) -> bool | None:
        import json

        with self._tx() as db:
            job = self._one(db, job_id)
            if job is None or job.worker != worker or job.status is not Status.IN_PROGRESS:
                return None
            values: dict[str, Any] = {"lease_until": self.clock() + self.policy.lease_s}
            if progress is not None:
                values["progress"] = json.dumps(progress)
            self._update(db, job_id, **values)
            return job.cancel_requested

    def finish(
        self,
        job_id: str,
        worker: str,
        status: Status,
        output: dict[str, Any] | None = None,
        error: str | None = None,
    ) -> Job | None:
        with self._tx() as db:
            job = self._one(db, job_id)
            if job is None or job.worker != worker or job.status is not Status.IN_PROGRESS:
                return None
            job.status, job.output, job.error = status, output, error
            job.finished_at, job.lease_until, job.progress = self.clock(), None, None
            row = job.to_row()
            self._update(
                db,
                job_id,
                **{k: row[k] for k in ("status", "output", "error", "finished_at", "progress")},
                lease_until=None,
            )
            if status not in RETRYABLE:
                self._update(db, job_id, audio=None)
            if job.webhook:
                job.webhook_due = job.finished_at + self.policy.webhook_lease_s
                self._update(db, job_id, webhook_due=job.webhook_due)
            self._bump(db, status.lower())
            return job

    def release(self, job_id: str, worker: str) -> bool:
        with self._tx() as db:
            job = self._one(db, job_id)
            if job is None or job.worker != worker or job.status is not Status.IN_PROGRESS:
                return False
            # Back to the front: its original created_at keeps it ahead of newer jobs.
            self._update(
                db,
                job_id,
                status=Status.IN_QUEUE,
                worker=None,
                lease_until=None,
                started_at=None,
                progress=None,
                attempts=max(0, job.attempts - 1),  # a clean hand-back is not a crash
            )
            return True

    def cancel(self, job_id: str) -> Job | None:
        with self._tx() as db:
            job = self._one(db, job_id)
            if job is None:
                return None
            if job.status is Status.IN_QUEUE:
                now = self.clock()
                self._update(db, job_id, status=Status.CANCELLED, finished_at=now, audio=None)
                self._owe_webhook(db, job_id, now)  # due at once: any process delivers it
                self._bump(db, "cancelled")
            elif job.status is Status.IN_PROGRESS:
                self._update(db, job_id, cancel_requested=1)
            return self._one(db, job_id)

    def retry(self, job_id: str) -> Job | None:
        with self._tx() as db:
            job = self._one(db, job_id)
            if job is None or job.status not in RETRYABLE:
                return job
            self._update(
                db,
                job_id,
                status=Status.IN_QUEUE,
                output=None,
                error=None,
                finished_at=None,
                started_at=None,
                worker=None,
                cancel_requested=0,
                attempts=0,
                webhook_due=None,  # the client asked for the retry: it knows of the failure
            )
            self._bump(db, "retried")
            return self._one(db, job_id)

    def reap(self) -> int:
        now = self.clock()
        with self._tx() as db:
            rows = db.execute(
                f"{_SELECT} WHERE status = ? AND lease_until < ?", (Status.IN_PROGRESS, now)
            ).fetchall()
            for row in rows:
                job = Job.from_row(dict(row))
                if job.cancel_requested:
                    self._update(db, job.id, status=Status.CANCELLED, finished_at=now, audio=None)
                    self._owe_webhook(db, job.id, now)
                    self._bump(db, "cancelled")
                elif job.attempts >= self.policy.max_attempts:
                    message = f"the job's worker died {job.attempts} times while running it"
                    self._update(db, job.id, status=Status.FAILED, error=message, finished_at=now)
                    self._owe_webhook(db, job.id, now)
                    self._bump(db, "failed")
                else:
                    self._update(db, job.id, status=Status.IN_QUEUE, worker=None, lease_until=None)
                    self._bump(db, "retried")
            return len(rows)

    def webhook_sent(self, job_id: str) -> None:
        with self._tx() as db:
            self._update(db, job_id, webhook_due=None)

    def claim_webhooks(self, limit: int = 20) -> list[Job]:
        now = self.clock()
        with self._tx() as db:
            rows = db.execute(
                f"{_SELECT} WHERE webhook_due IS NOT NULL AND webhook_due <= ? "
                "ORDER BY webhook_due LIMIT ?",
                (now, limit),
            ).fetchall()
            jobs = [Job.from_row(dict(row)) for row in rows]
            for job in jobs:
                job.webhook_due = now + self.policy.webhook_lease_s
                self._update(db, job.id, webhook_due=job.webhook_due)
            return jobs

    def purge(self) -> int:
        now = self.clock()
        cutoff = now - self.policy.retention_s
        with self._tx() as db:
            # Failed jobs keep their audio for a retry, but only for failed_audio_s.
            db.execute(
                "UPDATE jobs SET audio = NULL WHERE audio IS NOT NULL AND status IN (?, ?) "
                "AND finished_at < ?",
                (*RETRYABLE, now - self.policy.failed_audio_s),
            )
            purged = db.execute(
                "DELETE FROM jobs WHERE finished_at IS NOT NULL AND finished_at < ?", (cutoff,)
            ).rowcount
            if purged:
                db.execute("DELETE FROM idempotency WHERE job_id NOT IN (SELECT id FROM jobs)")
            return purged

    def counts(self) -> dict[str, int]:
        with self._lock:
            live = dict(
                self._db.execute(
                    "SELECT status, count(*) FROM jobs WHERE status IN (?, ?) GROUP BY status",
                    (Status.IN_QUEUE, Status.IN_PROGRESS),
                ).fetchall()
            )
            stats = dict(self._db.execute("SELECT name, value FROM stats").fetchall())
        return {
            "completed": stats.get("completed", 0),
            "failed": stats.get("failed", 0) + stats.get("timed_out", 0),
            "cancelled": stats.get("cancelled", 0),
            "inProgress": live.get(Status.IN_PROGRESS, 0),
            "inQueue": live.get(Status.IN_QUEUE, 0),
            "retried": stats.get("retried", 0),
        }

    def size_bytes(self) -> int:
        with self._lock:
            pages = self._db.execute("PRAGMA page_count").fetchone()[0]
            free = self._db.execute("PRAGMA freelist_count").fetchone()[0]
            size = self._db.execute("PRAGMA page_size").fetchone()[0]
        return int((pages - free) * size)

    def close(self) -> None:
        with self._lock:
            self._db.close()
