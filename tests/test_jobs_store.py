"""The job stores (SQLite and a real Redis), state by state: claim once, leases, cancel, retry,
hand-back, purge, and the audio deleted when a job ends."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from hark.jobs.model import Job, Status
from hark.jobs.store import JobStore, Policy, open_store
from hark.jobs.submit import BadJobRequest, new_job
from test_jobs_support import redis_url  # noqa: F401  (fixture)

POLICY = Policy(lease_s=0.3, max_attempts=2, retention_s=0.5)


@pytest.fixture(params=["sqlite", "redis"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[JobStore]:
    if request.param == "sqlite":
        s = open_store(f"sqlite:///{tmp_path / 'jobs.db'}", POLICY)
    else:
        import redis

        url = request.getfixturevalue("redis_url")
        redis.Redis.from_url(url).flushdb()
        s = open_store(url, POLICY)
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
    time.sleep(0.4)
    assert store.reap() == 1
    assert store.heartbeat(job.id, "dead", None) is None  # the lease is gone
    again = store.claim("alive")
    assert again is not None and again.id == job.id and again.attempts == 2
    time.sleep(0.4)
    store.reap()
    failed = store.get(job.id)
    assert failed is not None and failed.status is Status.FAILED
    assert "died 2 times" in (failed.error or "")
    retried = store.retry(job.id)
    assert retried is not None and retried.status is Status.IN_QUEUE
    assert store.audio(job.id) == b"RIFF"  # kept for the retry of a failed job
    assert store.counts()["retried"] == 1


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
