"""`open_store(url)`: the job store a HARK_JOB_STORE URL names, SQLite (one host) or Redis
(replicas).

Its own module so that the interface (`hark.jobs.store`) and its two backends import in one
direction only: the backends import the interface, this module imports all three.
"""

from __future__ import annotations

import time

from hark.jobs.redis_store import RedisStore
from hark.jobs.sqlite_store import SqliteStore
from hark.jobs.store import Clock, JobStore, Policy


def open_store(url: str, policy: Policy, clock: Clock = time.time) -> JobStore:
    """The store at `url`; `clock` (seconds since the epoch) times its leases and due times."""
    if url.startswith(("redis://", "rediss://", "unix://")):
        return RedisStore(url, policy, clock)
    if url.startswith("sqlite://"):
        path = url.removeprefix("sqlite://").removeprefix("/") or ":memory:"
        return SqliteStore(path, policy, clock)
    raise ValueError(f"HARK_JOB_STORE must be sqlite:///path or redis://host:port/db, not {url!r}")
