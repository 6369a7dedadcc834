"""The job stores (SQLite and a real Redis), state by state: claim once, leases, cancel, retry,
hand-back, purge, and the audio deleted when a job ends."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from hark.jobs.backends import open_store
from hark.jobs.records import Job, Status
from hark.jobs.store import JobStore, Policy
from hark.jobs.submit import BadJobRequest, new_job
from support_jobs import redis_url  # noqa: F401  (fixture)

POLICY = Policy(lease_s=0.3, max_attempts=2, retention_s=0.5)


class FakeClock:
    """The stores' clock, moved by the test: leases and due times run out when the test says,
    not after a sleep that a loaded machine may stretch past the next step."""

    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


def later(store: JobStore, seconds: float) -> None:
    """Move `store`'s clock on by `seconds`."""
    assert isinstance(store.clock, FakeClock)
    store.clock.now += seconds


def open_each(request: pytest.FixtureRequest, tmp_path: Path, policy: Policy) -> JobStore:
    """The store `request.param` names (a SQLite file, or the test Redis emptied), on a
    FakeClock."""
    if request.param == "sqlite":
        return open_store(f"sqlite:///{tmp_path / 'jobs.db'}", policy, FakeClock())
    import redis

    url = request.getfixturevalue("redis_url")
    redis.Redis.from_url(url).flushdb()
    return open_store(url, policy, FakeClock())


@pytest.fixture(params=["sqlite", "redis"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[JobStore]:
    s = open_each(request, tmp_path, POLICY)
    yield s
    s.close()


def queued(store: JobStore, audio: bytes | None = b"RIFF") -> Job:
    job = Job(options={"language": "en"}, output_formats=["srt"])
    store.submit(job, audio)
    return job


def test_claim_is_fifo_and_exclusive(store: JobStore) -> None:
    jobs = [queued(store) for _ in range(20)]
    claimed: list[str] = []
    lock = threading.Lock()

    def worker(name: str) -> None:
        while (job := store.claim(name)) is not None:
            with lock:
                claimed.append(job.id)

    threads = [threading.Thread(target=worker, args=(f"w{i}",)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(claimed) == sorted(j.id for j in jobs)  # each exactly once
    first = store.get(jobs[0].id)
    assert first is not None and first.status is Status.IN_PROGRESS and first.attempts == 1
    assert first.options == {"language": "en"} and first.output_formats == ["srt"]


def test_finish_deletes_audio_and_counts(store: JobStore) -> None:
    job = queued(store)
    assert store.claim("w") is not None and store.audio(job.id) == b"RIFF"
    assert store.heartbeat(job.id, "w", {"percent": 50.0}) is False
    progress = store.get(job.id)
    assert progress is not None and progress.public()["output"] == {"percent": 50.0}
    assert store.finish(job.id, "other", Status.COMPLETED, {"segments": []}) is None
    done = store.finish(job.id, "w", Status.COMPLETED, {"segments": []})
    assert done is not None and done.status is Status.COMPLETED
    assert store.audio(job.id) is None
    body = done.public()
    assert body["output"] == {"segments": []} and body["executionTime"] >= 0
    assert store.counts()["completed"] == 1 and store.counts()["inProgress"] == 0


def test_cancel_queued_and_running(store: JobStore) -> None:
    running, waiting = queued(store), queued(store)
    assert store.claim("w") is not None
    cancelled = store.cancel(waiting.id)
    assert cancelled is not None and cancelled.status is Status.CANCELLED
    assert store.audio(waiting.id) is None
    assert store.claim("w") is None  # the cancelled job is no longer in the queue
    assert store.cancel(running.id).status is Status.IN_PROGRESS  # type: ignore[union-attr]
    assert store.heartbeat(running.id, "w", None) is True  # the worker learns it
    assert store.cancel("nope") is None


def test_dead_worker_lease_requeues_then_fails(store: JobStore) -> None:
    job = queued(store)
    assert store.claim("dead") is not None
    assert store.reap() == 0  # its lease still runs
    later(store, 0.4)
    assert store.reap() == 1
    assert store.heartbeat(job.id, "dead", None) is None  # the lease is gone
    again = store.claim("alive")
    assert again is not None and again.id == job.id and again.attempts == 2
    later(store, 0.4)
    store.reap()
    failed = store.get(job.id)
    assert failed is not None and failed.status is Status.FAILED
    assert "died 2 times" in (failed.error or "")
    retried = store.retry(job.id)
    assert retried is not None and retried.status is Status.IN_QUEUE
    assert store.audio(job.id) == b"RIFF"  # kept for the retry of a failed job
    # One re-queue after the dead worker, one /retry: both are retries.
    assert store.counts()["retried"] == 2


def test_release_puts_the_job_first(store: JobStore) -> None:
    first, second = queued(store), queued(store)
    assert store.claim("w").id == first.id  # type: ignore[union-attr]
    assert store.release(first.id, "w")
    again = store.claim("w2")
    assert again is not None and again.id == first.id and again.attempts == 1
    assert store.claim("w2").id == second.id  # type: ignore[union-attr]


def test_retention_purges_finished_jobs(store: JobStore) -> None:
    job = queued(store)
    store.claim("w")
    store.finish(job.id, "w", Status.FAILED, error="boom")
    assert store.get(job.id) is not None
    later(store, 0.6)  # past retention (SQLite); Redis expires the job itself, in real time
    deadline = time.monotonic() + 5
    while store.get(job.id) is not None:
        store.purge()
        assert time.monotonic() < deadline, "not purged"
        time.sleep(0.1)
    assert store.audio(job.id) is None


def test_new_job_from_a_run_body() -> None:
    job, audio = new_job(
        {"input": {"audio_base64": "UklGRg==", "language": "en", "output_formats": "srt,vtt"}},
        1000,
    )
    assert audio == b"RIFF" and job.status is Status.IN_QUEUE
    assert job.options == {"language": "en"} and job.output_formats == ["srt", "vtt"]
    bad, none = new_job({"input": {"audio_base_64": "%%%"}}, 1000)
    assert bad.status is Status.FAILED and "not valid base64" in (bad.error or "")
    assert none is None
    url, _ = new_job({"input": {"audio_url": "https://example.com/a.mp3"}, "webhook": ""}, 10)
    assert url.audio_url == "https://example.com/a.mp3"
    timed, _ = new_job(
        {"input": {"audio": "https://x.org/a"}, "policy": {"executionTimeout": 1500}}, 1
    )
    assert timed.timeout_s == 1.5
    for body in ({"inputs": {}}, [1], {"input": {}, "webhook": "ftp://x"}):
        with pytest.raises(BadJobRequest):
            new_job(body, 10)


# -- webhooks owed: recorded in the same step as the job's end ------------------------------

HOOKS = Policy(lease_s=0.3, max_attempts=1, retention_s=60, webhook_lease_s=0.4)


@pytest.fixture(params=["sqlite", "redis"])
def hook_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[JobStore]:
    s = open_each(request, tmp_path, HOOKS)
    yield s
    s.close()


def with_hook(store: JobStore, url: str | None = "https://example.com/hook") -> Job:
    job = Job(options={}, webhook=url)
    store.submit(job, b"RIFF")
    return job


def test_a_finished_job_owes_its_webhook_until_sent(hook_store: JobStore) -> None:
    store = hook_store
    hooked, plain = with_hook(store), with_hook(store, None)
    for job in (hooked, plain):
        assert store.claim("w") is not None
        final = store.finish(job.id, "w", Status.COMPLETED, {"text": "x"})
        assert final is not None
    owed = store.get(hooked.id)
    assert owed is not None and owed.webhook_due is not None
    assert owed.webhook_due > store.clock()  # the finishing process delivers first
    assert store.get(plain.id).webhook_due is None  # type: ignore[union-attr]
    assert store.claim_webhooks() == []  # not before its lease runs out
    later(store, 0.5)  # that process died, say
    (again,) = store.claim_webhooks()
    assert again.id == hooked.id and again.status is Status.COMPLETED
    assert again.public()["output"] == {"text": "x"}
    assert store.claim_webhooks() == []  # now leased to this caller
    store.webhook_sent(hooked.id)
    later(store, 0.5)
    assert store.claim_webhooks() == []
    assert store.get(hooked.id).webhook_due is None  # type: ignore[union-attr]


def test_cancelled_failed_and_invalid_jobs_owe_webhooks_too(hook_store: JobStore) -> None:
    store = hook_store
    cancelled = with_hook(store)
    store.cancel(cancelled.id)  # queued: ended at once, due at once
    dying = with_hook(store)
    assert store.claim("dead") is not None
    later(store, 0.4)
    store.reap()  # max_attempts=1: FAILED, due at once
    invalid = Job(status=Status.FAILED, error="bad input", webhook="https://example.com/h")
    store.submit(invalid, None)  # ended at submit: its submitter delivers first
    due = {j.id: j.status for j in store.claim_webhooks()}
    assert due == {cancelled.id: Status.CANCELLED, dying.id: Status.FAILED}
    later(store, 0.5)
    assert {j.id for j in store.claim_webhooks()} >= {invalid.id}


def test_retry_clears_the_owed_webhook(hook_store: JobStore) -> None:
    store = hook_store
    job = with_hook(store)
    store.claim("w")
    store.finish(job.id, "w", Status.FAILED, error="boom")
    retried = store.retry(job.id)
    assert retried is not None and retried.status is Status.IN_QUEUE
    assert retried.webhook_due is None
    later(store, 0.5)
    assert store.claim_webhooks() == []


def test_an_old_sqlite_database_gains_the_new_column(tmp_path: Path) -> None:
    import sqlite3

    path = tmp_path / "old.db"
    with sqlite3.connect(path) as db:  # the schema before webhook_due existed
        db.execute("CREATE TABLE jobs (id TEXT PRIMARY KEY, status, webhook, audio BLOB)")
        db.execute("INSERT INTO jobs (id, status) VALUES ('a', 'COMPLETED')")
    store = open_store(f"sqlite:///{path}", HOOKS)
    try:
        old = store.get("a")
        assert old is not None and old.webhook_due is None and old.status is Status.COMPLETED
        assert store.claim_webhooks() == []
    finally:
        store.close()


# -- idempotency keys: a retried submission gets the job the first one stored ----------------


def test_idempotent_submit_stores_one_job(store: JobStore) -> None:
    from hark.jobs.store import Idempotency, IdempotencyConflict

    first = Job(options={"language": "en"})
    key = Idempotency("caller:key-1", "digest-a")
    assert store.submit(first, b"RIFF", key).id == first.id
    again = store.submit(Job(options={"language": "en"}), b"RIFF", key)  # the retry
    assert again.id == first.id and again.status is Status.IN_QUEUE
    assert store.counts()["inQueue"] == 1
    with pytest.raises(IdempotencyConflict, match=first.id):
        store.submit(Job(), b"RIFF", Idempotency("caller:key-1", "digest-b"))
    other = store.submit(Job(), b"RIFF", Idempotency("caller:key-2", "digest-a"))
    assert other.id != first.id and store.counts()["inQueue"] == 2
    # The same key from another caller (scoped by the API layer) is another key.
    assert store.submit(Job(), None, Idempotency("other:key-1", "digest-a")).id != first.id


def test_idempotency_key_of_a_purged_job_starts_over(tmp_path: Path) -> None:
    from hark.jobs.store import Idempotency

    store = open_store(f"sqlite:///{tmp_path / 'jobs.db'}", POLICY, FakeClock())
    try:
        key = Idempotency("caller:k", "d")
        job = store.submit(Job(), b"RIFF", key)
        store.claim("w")
        store.finish(job.id, "w", Status.COMPLETED, {})
        later(store, 0.6)  # past retention
        assert store.purge() == 1
        fresh = store.submit(Job(), b"RIFF", key)
        assert fresh.id != job.id and store.get(fresh.id) is not None
    finally:
        store.close()


# -- bounded storage (issue 13) ------------------------------------------------------------


@pytest.fixture(params=["sqlite", "redis"])
def short_audio_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[JobStore]:
    policy = Policy(lease_s=0.3, max_attempts=2, retention_s=60, failed_audio_s=0.2)
    s = open_each(request, tmp_path, policy)
    yield s
    s.close()


def test_failed_jobs_audio_is_kept_only_briefly(short_audio_store: JobStore) -> None:
    store = short_audio_store
    failed, done = queued(store), queued(store)
    for job, status in ((failed, Status.FAILED), (done, Status.COMPLETED)):
        assert store.claim("w") is not None
        store.finish(job.id, "w", status, None, "broken" if status is Status.FAILED else None)
    assert store.audio(failed.id) == b"RIFF"  # a retry right away still has it
    later(store, 1.2)  # SQLite follows the store's clock; Redis its own EXPIRE, in real time
    deadline = time.monotonic() + 10  # polled, not slept: a loaded machine only delays it
    store.purge()
    while store.audio(failed.id) is not None:
        assert time.monotonic() < deadline, "the failed job's audio is still kept"
        time.sleep(0.05)
        store.purge()
    kept = store.get(failed.id)  # the job itself stays for the retention time
    assert kept is not None and kept.status is Status.FAILED and kept.error == "broken"


def test_owner_is_stored(store: JobStore) -> None:
    job = Job(options={}, owner="alice")
    store.submit(job, None)
    assert store.get(job.id).owner == "alice"  # type: ignore[union-attr]
    anonymous = queued(store)
    assert store.get(anonymous.id).owner is None  # type: ignore[union-attr]


def test_store_size_cap_refuses_new_jobs(tmp_path: Path) -> None:
    from hark.jobs.store import StoreFullError

    store = open_store(f"sqlite:///{tmp_path / 'jobs.db'}", Policy(max_bytes=200_000))
    store.check_room()  # empty: room
    queued(store, b"x" * 300_000)
    assert store.size_bytes() >= 300_000
    with pytest.raises(StoreFullError, match=r"full \(0\.2 MiB\)"):
        store.check_room()
    store.close()


def test_store_limit_is_in_mib(tmp_path: Path) -> None:
    """HARK_JOB_STORE_MAX_MB counts MiB, as HARK_MAX_UPLOAD_MB does (one unit everywhere)."""
    from hark.jobs.service import JobService
    from hark.settings import Settings

    settings = Settings(
        job_store_url=f"sqlite:///{tmp_path / 'jobs.db'}", job_store_max_mb=3, max_upload_mb=2
    )
    service = JobService(settings)
    try:
        assert service.store.policy.max_bytes == 3 * 1024 * 1024
    finally:
        service.store.close()


def test_policy_timeout_never_exceeds_the_servers(tmp_path: Path) -> None:
    from hark.jobs.runner import JobRunner
    from hark.settings import Settings

    store = open_store(f"sqlite:///{tmp_path / 'jobs.db'}", POLICY)
    runner = JobRunner(store, None, Settings(data_dir=tmp_path, job_timeout_s=60))  # type: ignore[arg-type]
    assert runner._timeout(Job(timeout_s=10)) == 10
    assert runner._timeout(Job(timeout_s=10_000)) == 60  # a policy cannot ask for more
    assert runner._timeout(Job()) == 60
    unlimited = JobRunner(store, None, Settings(data_dir=tmp_path, job_timeout_s=0))  # type: ignore[arg-type]
    assert unlimited._timeout(Job(timeout_s=10)) == 10 and unlimited._timeout(Job()) == 0
    store.close()
