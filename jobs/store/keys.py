"""Every Redis key and channel the library reads or writes, in one place, for each layout.

The default layout is arq's: job data, queue, lock and try-counter keys where arq's own worker
finds them, so `arq jobs.arq_worker.WorkerSettings` can run the jobs too; the retention keys are
ours (arq keeps results by TTL, we keep them by count). The cluster layout puts every key of a
queue under one hash tag, the queue's name in braces (`{emails}:queue`, `{emails}:job:<id>`), so
each script touches one slot and different queues spread over the shards; what is not a queue's
(the workers' heartbeats) shares the tag `{jobs}`. A connection carries its layout
(`Connection.keys`); the module-level names are the default layout's.
"""

from __future__ import annotations

from dataclasses import dataclass

from arq.constants import in_progress_key_prefix, job_key_prefix, retry_key_prefix

# The default layout's prefixes, which its Lua scripts are built with (store/lua/include/prefixes.lua).
JOB_PREFIX = job_key_prefix  # arq:job:{id} -> the stored job (JSON)
LOCK_PREFIX = in_progress_key_prefix  # arq:in-progress:{id} -> set while an attempt runs
TRIES_PREFIX = retry_key_prefix  # arq:retry:{id} -> attempts started so far
RECORD_PREFIX = "jobs:record:"  # jobs:record:{id} -> retained outcome of a finished job (JSON)
QUEUE_PREFIX = "arq:queue:"
WAKE_CHANNEL_PREFIX = "jobs:wake:"
HANDOFF_CHANNEL_PREFIX = "jobs:handoff:"
PAUSED_KEY = "jobs:paused"


@dataclass(frozen=True, slots=True)
class Layout:
    """Key names for a single Redis (arq's layout) or for Redis Cluster (a hash tag per queue)."""

    cluster: bool

    def queue(self, name: str) -> str:
        """Sorted set of job ids to run, scored by the time (ms) they become due."""
        return f"{{{name}}}:queue" if self.cluster else QUEUE_PREFIX + name

    def job(self, job_id: str, queue: str | None = None) -> str:
        return self._of_job("job", JOB_PREFIX, job_id, queue)

    def lock(self, job_id: str, queue: str | None = None) -> str:
        return self._of_job("lock", LOCK_PREFIX, job_id, queue)

    def tries(self, job_id: str, queue: str | None = None) -> str:
        return self._of_job("tries", TRIES_PREFIX, job_id, queue)

    def record(self, job_id: str, queue: str | None = None) -> str:
        return self._of_job("record", RECORD_PREFIX, job_id, queue)

    def attempts(self, job_id: str, queue: str | None = None) -> str:
        """List of a job's failed attempts that were retried (the dashboard's attempt history)."""
        return self._of_job("attempts", "jobs:attempts:", job_id, queue)

    def progress(self, job_id: str, queue: str | None = None) -> str:
        """The latest progress a running job reported (JSON: fraction, message, at_ms), expiring."""
        return self._of_job("progress", "jobs:progress:", job_id, queue)

    def finished(self, queue: str, status: str) -> str:
        """Sorted set of retained job ids of one queue and outcome, scored by finish time (µs)."""
        return f"{{{queue}}}:{status}" if self.cluster else f"jobs:{queue}:{status}"

    def idle_workers(self, queue: str) -> str:
        """Sorted set of a queue's waiting workers (`lock ms` and token), scored by when the
        registration lapses (Redis clock, ms): a trigger hands a due job straight to one of them."""
        return self._of_queue(queue, "idle")

    def paused(self, queue: str) -> str:
        """The set a paused queue's name is in: one set for every queue (`jobs:paused`), or in a
        cluster one per queue, in its slot, since the claim script reads it."""
        return self._of_queue(queue, "paused") if self.cluster else PAUSED_KEY

    def wake_channel(self, queue: str) -> str:
        """Pub/sub channel a trigger publishes on, so waiting workers claim the job at once
        (sharded pub/sub in a cluster: the queue's slot)."""
        return f"{{{queue}}}:wake" if self.cluster else WAKE_CHANNEL_PREFIX + queue

    def handoff_channel(self, queue: str, token: str) -> str:
        """Pub/sub channel on which one worker's queue runner (by its token) receives jobs handed off."""
        return f"{{{queue}}}:handoff:{token}" if self.cluster else HANDOFF_CHANNEL_PREFIX + token

    def throughput(self, queue: str, hour: int) -> str:
        """Hash of one queue's outcomes per minute (`{minute}:c`, `{minute}:f`) within one hour (epoch hours)."""
        return self._of_queue(queue, f"throughput:{hour}")

    def schedules(self, queue: str) -> str:
        """Hash of a queue's schedules: schedule id -> its definition (JSON: job, spec, payload, declared)."""
        return self._of_queue(queue, "schedules")

    def schedules_due(self, queue: str) -> str:
        """Sorted set of a queue's schedule ids, scored by their next tick (ms): what a poll reads."""
        return self._of_queue(queue, "schedules:due")

    def schedules_last(self, queue: str) -> str:
        """Hash of a queue's schedule id -> the tick (ms) it last fired."""
        return self._of_queue(queue, "schedules:last")

    def trigger_key(self, queue: str, job_name: str, key: str) -> str:
        """A trigger key (`trigger(key=...)`): the id of the job that key last enqueued, for its job."""
        return self.trigger_keys_prefix(queue) + f"{job_name}:{key}"

    def trigger_keys_prefix(self, queue: str) -> str:
        """What every trigger key of `queue` starts with."""
        return self._of_queue(queue, "key:")

    # Job control (rate limits, max_running, priorities): every key under the queue's hash tag.
    def priority(self, queue: str) -> str:
        """Sorted set of a queue's live jobs triggered with a priority other than 0, scored by
        `-priority * 2**42 + due ms` (highest first, then by due time); they stay in `queue` too."""
        return self._of_queue(queue, "priority")

    def limited(self, queue: str) -> str:
        """Set (expiring) while a worker enforces a rate limit or max_running on the queue: a
        trigger then wakes its workers instead of handing a job off past the limit."""
        return self._of_queue(queue, "limited")

    def rate_window(self, queue: str, job_name: str | None = None) -> str:
        """Sorted set of the recent starts a rate limit counts (a sliding-window log, scored by
        Redis's clock in ms): the queue's own (JOBS_QUEUE_RATE_LIMIT), or one job's."""
        return self._of_queue(queue, "rate" if job_name is None else f"rate:{job_name}")

    def held_cursor(self, queue: str) -> str:
        """Where a claim stopped looking past jobs held by their limits (`q<id>` among the queue's
        priority-0 jobs, `p<score> <id>` in its priority set; expiring when a window may open):
        the next claim resumes there instead of looking past the same jobs again."""
        return self._of_queue(queue, "held")

    def running_set(self, queue: str, job_name: str) -> str:
        """Set of the ids of a `max_running` job's attempts holding a slot; one counts while its lock lives."""
        return self._of_queue(queue, f"running:{job_name}")

    @property
    def workers(self) -> str:
        """Sorted set of live worker ids, scored by their last heartbeat (ms)."""
        return "{jobs}:workers" if self.cluster else "jobs:workers"

    def worker(self, worker_id: str) -> str:
        """A worker's last heartbeat (JSON), expiring."""
        return f"{{jobs}}:worker:{worker_id}" if self.cluster else f"jobs:worker:{worker_id}"

    # SCAN patterns for the queues Redis holds something for, and how to read a queue back from a match.
    def queue_pattern(self) -> str:
        return "{*}:queue" if self.cluster else QUEUE_PREFIX + "*"

    def finished_pattern(self, status: str) -> str:
        return f"{{*}}:{status}" if self.cluster else f"jobs:*:{status}"

    def paused_pattern(self) -> str:
        return "{*}:paused" if self.cluster else PAUSED_KEY

    def schedules_pattern(self) -> str:
        return "{*}:schedules:due" if self.cluster else "jobs:*:schedules:due"

    def queue_of(self, key: str) -> str:
        """The queue a key matched by one of the patterns above belongs to."""
        if self.cluster:
            return key[1 : key.index("}")]
        if key.startswith(QUEUE_PREFIX):
            return key.removeprefix(QUEUE_PREFIX)
        return key.removeprefix("jobs:").rsplit(":", 2 if key.endswith(":schedules:due") else 1)[0]

    def _of_queue(self, queue: str, what: str) -> str:
        return f"{{{queue}}}:{what}" if self.cluster else f"jobs:{queue}:{what}"

    def _of_job(self, what: str, prefix: str, job_id: str, queue: str | None) -> str:
        if not self.cluster:
            return prefix + job_id
        if queue is None:
            raise ValueError(f"in a cluster a job's {what} key needs its queue (the hash tag): {job_id!r}")
        return f"{{{queue}}}:{what}:{job_id}"


def migration_guard(first_key: str) -> str:
    """A key in the slot of `first_key` (a cluster layout key) that is never written.

    Every script call in a cluster declares it after its own keys. While a slot migrates, Redis
    runs a script only where all of its declared keys are, and this one is nowhere: so instead
    of running against half-moved keys (a stored job gone ahead, its queue not yet), every script
    of the slot is answered TRYAGAIN until the move is over, and is then sent where the slot went.
    """
    return first_key[: first_key.index("}") + 1] + ":never-written"


DEFAULT = Layout(cluster=False)
CLUSTER = Layout(cluster=True)

# The default layout's names, for code and tests that address a single Redis.
queue = DEFAULT.queue
job = DEFAULT.job
lock = DEFAULT.lock
tries = DEFAULT.tries
record = DEFAULT.record
attempts = DEFAULT.attempts
finished = DEFAULT.finished
idle_workers = DEFAULT.idle_workers
wake_channel = DEFAULT.wake_channel
throughput = DEFAULT.throughput
schedules = DEFAULT.schedules
schedules_due = DEFAULT.schedules_due
schedules_last = DEFAULT.schedules_last
trigger_key = DEFAULT.trigger_key
worker = DEFAULT.worker
WORKERS_KEY = DEFAULT.workers
SCHEDULES_PATTERN = DEFAULT.schedules_pattern()


progress = DEFAULT.progress

# A cancel request for a running job goes out on its queue's wake channel (which every worker of
# the queue listens to) as this prefix and the job id; a plain wake-up is "1".
CANCEL_MESSAGE_PREFIX = b"cancel:"


def handoff_channel(token: str) -> str:
    """The default layout's hand-off channel of a runner (by its token)."""
    return HANDOFF_CHANNEL_PREFIX + token


def running_lock(value: bytes | None) -> bool:
    """Whether a lock's value means running: a worker's token, or arq's `1`; `token+` is a job
    a worker claimed ahead and has not started (still queued)."""
    return value is not None and not value.endswith(b"+")
