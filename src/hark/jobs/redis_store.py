"""The replicated job store: jobs in Redis hashes, a list as the queue, leases in a sorted set.

Every transition is one Lua script, so claiming is atomic across replicas (exactly one gets a
job) and a replica that dies mid-job loses its lease: any replica's reaper re-queues the job.
Finished jobs expire after the retention time (Redis purges them itself). Keys are built
inside the scripts, so this needs a single Redis (or a primary), not Redis Cluster.
"""

from __future__ import annotations

import json
import time
from typing import Any

import redis

from hark.jobs.records import Job, Status
from hark.jobs.store import Clock, Idempotency, JobStore, Policy

P = "hark:"
QUEUE, LEASES, STATS = P + "queue", P + "leases", P + "stats"
WEBHOOKS = P + "webhooks"  # ended jobs owing a webhook, scored by when any process may send it

_LIB = """
local P = 'hark:'
local function held(id, worker)
  local key = P .. 'job:' .. id
  return redis.call('HGET', key, 'status') == 'IN_PROGRESS'
     and redis.call('HGET', key, 'worker') == worker
end
local function ended(id, status, now, retention, webhook_due)
  local key = P .. 'job:' .. id
  redis.call('HSET', key, 'status', status, 'finished_at', now, 'lease_until', '',
             'progress', '')
  redis.call('ZREM', P .. 'leases', id)
  local hook = redis.call('HGET', key, 'webhook')
  if hook and hook ~= '' then
    redis.call('HSET', key, 'webhook_due', webhook_due)
    redis.call('ZADD', P .. 'webhooks', webhook_due, id)
  end
  if status ~= 'FAILED' and status ~= 'TIMED_OUT' then redis.call('DEL', P .. 'audio:' .. id) end
  redis.call('EXPIRE', key, retention)
  redis.call('EXPIRE', P .. 'audio:' .. id, retention)
  redis.call('HINCRBY', P .. 'stats', string.lower(status), 1)
end
"""

_CLAIM = """
local id = redis.call('RPOP', P .. 'queue')
while id do
  local key = P .. 'job:' .. id
  if redis.call('HGET', key, 'status') == 'IN_QUEUE' then
    local attempts = tonumber(redis.call('HGET', key, 'attempts') or '0') + 1
    redis.call('HSET', key, 'status', 'IN_PROGRESS', 'worker', ARGV[1], 'started_at', ARGV[2],
               'attempts', attempts, 'lease_until', ARGV[3], 'progress', '')
    redis.call('ZADD', P .. 'leases', ARGV[3], id)
    return redis.call('HGETALL', key)
  end
  id = redis.call('RPOP', P .. 'queue')  -- an entry left by a cancelled job
end
return false
"""

_HEARTBEAT = """
if not held(ARGV[1], ARGV[2]) then return -1 end
redis.call('ZADD', P .. 'leases', ARGV[3], ARGV[1])
redis.call('HSET', P .. 'job:' .. ARGV[1], 'lease_until', ARGV[3])
if ARGV[4] ~= '' then redis.call('HSET', P .. 'job:' .. ARGV[1], 'progress', ARGV[4]) end
return tonumber(redis.call('HGET', P .. 'job:' .. ARGV[1], 'cancel_requested') or '0')
"""

_FINISH = """
if not held(ARGV[1], ARGV[2]) then return 0 end
redis.call('HSET', P .. 'job:' .. ARGV[1], 'output', ARGV[4], 'error', ARGV[5])
ended(ARGV[1], ARGV[3], ARGV[6], ARGV[7], ARGV[8])
-- A failed job's audio is kept for a retry, but only for the (short) failed-audio time.
redis.call('EXPIRE', P .. 'audio:' .. ARGV[1], ARGV[9])
return 1
"""

_RELEASE = """
if not held(ARGV[1], ARGV[2]) then return 0 end
local key = P .. 'job:' .. ARGV[1]
local attempts = math.max(0, tonumber(redis.call('HGET', key, 'attempts') or '1') - 1)
redis.call('HSET', key, 'status', 'IN_QUEUE', 'worker', '', 'lease_until', '',
           'started_at', '', 'progress', '', 'attempts', attempts)
redis.call('ZREM', P .. 'leases', ARGV[1])
redis.call('RPUSH', P .. 'queue', ARGV[1])  -- the front: taken next
return 1
"""

_CANCEL = """
local key = P .. 'job:' .. ARGV[1]
local status = redis.call('HGET', key, 'status')
if status == 'IN_QUEUE' then
  redis.call('LREM', P .. 'queue', 0, ARGV[1])
  ended(ARGV[1], 'CANCELLED', ARGV[2], ARGV[3], ARGV[2])
elseif status == 'IN_PROGRESS' then
  redis.call('HSET', key, 'cancel_requested', 1)
end
return status
"""

_RETRY = """
local key = P .. 'job:' .. ARGV[1]
local status = redis.call('HGET', key, 'status')
if status ~= 'FAILED' and status ~= 'TIMED_OUT' then return 0 end
redis.call('HSET', key, 'status', 'IN_QUEUE', 'output', '', 'error', '', 'finished_at', '',
           'started_at', '', 'worker', '', 'cancel_requested', 0, 'attempts', 0,
           'webhook_due', '')
redis.call('ZREM', P .. 'webhooks', ARGV[1])
redis.call('PERSIST', key)
redis.call('PERSIST', P .. 'audio:' .. ARGV[1])
redis.call('LPUSH', P .. 'queue', ARGV[1])
redis.call('HINCRBY', P .. 'stats', 'retried', 1)
return 1
"""

_REAP = """
local ids = redis.call('ZRANGEBYSCORE', P .. 'leases', '-inf', ARGV[1])
for _, id in ipairs(ids) do
  local key = P .. 'job:' .. id
  if redis.call('HGET', key, 'status') ~= 'IN_PROGRESS' then
    redis.call('ZREM', P .. 'leases', id)
  elseif redis.call('HGET', key, 'cancel_requested') == '1' then
    ended(id, 'CANCELLED', ARGV[1], ARGV[3], ARGV[1])
  elseif tonumber(redis.call('HGET', key, 'attempts') or '0') >= tonumber(ARGV[2]) then
    redis.call('HSET', key, 'error', 'the job\\'s worker died ' ..
               redis.call('HGET', key, 'attempts') .. ' times while running it')
    ended(id, 'FAILED', ARGV[1], ARGV[3], ARGV[1])
  else
    redis.call('HSET', key, 'status', 'IN_QUEUE', 'worker', '', 'lease_until', '')
    redis.call('ZREM', P .. 'leases', id)
    redis.call('RPUSH', P .. 'queue', id)
    redis.call('HINCRBY', P .. 'stats', 'retried', 1)
  end
end
return #ids
"""

_CLAIM_WEBHOOKS = """
local ids = redis.call('ZRANGEBYSCORE', P .. 'webhooks', '-inf', ARGV[1], 'LIMIT', 0, ARGV[3])
local out = {}
for _, id in ipairs(ids) do
  local key = P .. 'job:' .. id
  if redis.call('EXISTS', key) == 0 then
    redis.call('ZREM', P .. 'webhooks', id)  -- expired with its job
  else
    redis.call('ZADD', P .. 'webhooks', ARGV[2], id)
    redis.call('HSET', key, 'webhook_due', ARGV[2])
    table.insert(out, redis.call('HGETALL', key))
  end
end
return out
"""

_WEBHOOK_SENT = """
redis.call('ZREM', P .. 'webhooks', ARGV[1])
if redis.call('EXISTS', P .. 'job:' .. ARGV[1]) == 1 then
  redis.call('HSET', P .. 'job:' .. ARGV[1], 'webhook_due', '')
end
return 1
"""

# The key is kept as long as its job can be: the retention time, counted from submission.
_IDEMPOTENT = """
local key = P .. 'idem:' .. ARGV[1]
local known = redis.call('GET', key)
if known then return known end
redis.call('SET', key, ARGV[2], 'EX', ARGV[3])
return false
"""


class RedisStore(JobStore):
    def __init__(self, url: str, policy: Policy, clock: Clock = time.time) -> None:
        # Leases, webhook dues and ages follow `clock`; retention is a Redis EXPIRE (real time).
        super().__init__(policy, clock)
        self._r = redis.Redis.from_url(url, health_check_interval=30)
        self._scripts = {
            name: self._r.register_script(_LIB + body)
            for name, body in dict(
                claim=_CLAIM,
                heartbeat=_HEARTBEAT,
                finish=_FINISH,
                release=_RELEASE,
                cancel=_CANCEL,
                retry=_RETRY,
                reap=_REAP,
                claim_webhooks=_CLAIM_WEBHOOKS,
                webhook_sent=_WEBHOOK_SENT,
                idempotent=_IDEMPOTENT,
            ).items()
        }

    def _call(self, name: str, *args: Any) -> Any:
        return self._scripts[name](args=[("" if a is None else a) for a in args])

    def _retention(self) -> int:
        return max(1, int(self.policy.retention_s))

    def submit(self, job: Job, audio: bytes | None, idempotency: Idempotency | None = None) -> Job:
        if idempotency is not None:
            claim = f"{job.id} {idempotency.fingerprint}"
            known = self._call("idempotent", idempotency.key, claim, self._retention())
            if known:
                job_id, _, fingerprint = known.decode().partition(" ")
                idempotency.check(fingerprint, job_id)
                # Its job may be a moment from being stored by a concurrent submit.
                return self.get(job_id) or Job(id=job_id)
        try:
            self._store_new(job, audio)
        except Exception:
            if idempotency is not None:
                self._r.delete(P + "idem:" + idempotency.key)  # so a retry can store it
            raise
        return job

    def _store_new(self, job: Job, audio: bytes | None) -> None:
        row = {k: ("" if v is None else v) for k, v in job.to_row().items()}
        pipe = self._r.pipeline(transaction=True)
        pipe.hset(P + "job:" + job.id, mapping=row)
        if audio is not None:
            pipe.set(P + "audio:" + job.id, audio)
        if job.status.final:
            pipe.expire(P + "job:" + job.id, self._retention())
            pipe.hincrby(STATS, job.status.lower(), 1)
            if job.webhook:
                job.webhook_due = self.clock() + self.policy.webhook_lease_s
                pipe.hset(P + "job:" + job.id, "webhook_due", job.webhook_due)
                pipe.zadd(WEBHOOKS, {job.id: job.webhook_due})
        else:
            pipe.lpush(QUEUE, job.id)
        pipe.execute()

    def get(self, job_id: str) -> Job | None:
        row = self._r.hgetall(P + "job:" + job_id)
        return _job(row) if row else None

    def audio(self, job_id: str) -> bytes | None:
        data = self._r.get(P + "audio:" + job_id)
        return data if isinstance(data, bytes) else None

    def claim(self, worker: str) -> Job | None:
        now = self.clock()
        flat = self._call("claim", worker, now, now + self.policy.lease_s)
        if not flat:
            return None
        return _job(dict(zip(flat[::2], flat[1::2], strict=True)))

    def heartbeat(self, job_id: str, worker: str, progress: dict[str, Any] | None) -> bool | None:
        lease = self.clock() + self.policy.lease_s
        answer = self._call(
            "heartbeat", job_id, worker, lease, json.dumps(progress) if progress else ""
        )
        return None if answer == -1 else bool(answer)

    def finish(
        self,
        job_id: str,
        worker: str,
        status: Status,
        output: dict[str, Any] | None = None,
        error: str | None = None,
    ) -> Job | None:
        out = json.dumps(output) if output is not None else ""
        now = self.clock()
        due = now + self.policy.webhook_lease_s
        audio_s = max(1, int(min(self.policy.failed_audio_s, self.policy.retention_s)))
        args = (job_id, worker, str(status), out, error, now, self._retention(), due, audio_s)
        if not self._call("finish", *args):
            return None
        return self.get(job_id)

    def release(self, job_id: str, worker: str) -> bool:
        return bool(self._call("release", job_id, worker))

    def cancel(self, job_id: str) -> Job | None:
        self._call("cancel", job_id, self.clock(), self._retention())
        return self.get(job_id)

    def retry(self, job_id: str) -> Job | None:
        self._call("retry", job_id)
        return self.get(job_id)

    def reap(self) -> int:
        return int(self._call("reap", self.clock(), self.policy.max_attempts, self._retention()))

    def webhook_sent(self, job_id: str) -> None:
        self._call("webhook_sent", job_id)

    def claim_webhooks(self, limit: int = 20) -> list[Job]:
        now = self.clock()
        rows = self._call("claim_webhooks", now, now + self.policy.webhook_lease_s, limit)
        return [_job(dict(zip(flat[::2], flat[1::2], strict=True))) for flat in rows]

    def purge(self) -> int:
        return 0  # finished jobs carry an EXPIRE of the retention time

    def counts(self) -> dict[str, int]:
        pipe = self._r.pipeline(transaction=False)
        pipe.llen(QUEUE)
        pipe.zcard(LEASES)
        pipe.hgetall(STATS)
        queued, running, raw = pipe.execute()
        stats = {k.decode(): int(v) for k, v in raw.items()}
        return {
            "completed": stats.get("completed", 0),
            "failed": stats.get("failed", 0) + stats.get("timed_out", 0),
            "cancelled": stats.get("cancelled", 0),
            "inProgress": int(running),
            "inQueue": int(queued),
            "retried": stats.get("retried", 0),
        }

    def size_bytes(self) -> int:
        # The whole Redis database's memory: the store is the one user Hark expects.
        return int(self._r.info("memory").get("used_memory", 0))

    def close(self) -> None:
        self._r.close()


def _job(row: dict[Any, Any]) -> Job:
    return Job.from_row({_text(k): _text(v) for k, v in row.items()})


def _text(value: Any) -> Any:
    return value.decode() if isinstance(value, bytes) else value
