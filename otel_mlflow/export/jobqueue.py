"""Planned writes waiting for a writer thread. A plain data structure: the ledger holds its lock.

Jobs of one key (a trace, a run, a window) go one at a time and in order, always on the same writer
thread (``shard_of``), so a run's creation comes before its writes and a window's steps stay in order::

    queue = JobQueue()
    queue.add(job)
    job = queue.take(shard=0, shards=4, now=time.monotonic())   # None: nothing due for this thread
    queue.done(job)                                              # or queue.release(job) to retry later
"""

from __future__ import annotations

from otel_mlflow.export.jobs import Job


def shard_of(key: str, shards: int) -> int:
    """The writer thread of a key: all writes of one run go through one thread, in order."""
    return 0 if shards <= 1 else hash(key) % shards


class JobQueue:
    def __init__(self) -> None:
        self._jobs: list[Job] = []

    def __len__(self) -> int:
        return len(self._jobs)

    def add(self, job: Job) -> None:
        self._jobs.append(job)

    def take(self, shard: int, shards: int, now: float) -> Job | None:
        """The first due job of this shard whose key has no earlier job waiting or running."""
        seen: set[str] = set()
        for job in self._jobs:
            if job.key in seen:
                continue
            seen.add(job.key)
            if job.busy or shard_of(job.key, shards) != shard or job.next_try > now:
                continue
            job.busy = True
            return job
        return None

    def release(self, job: Job) -> None:
        """The attempt failed; the job stays, due again at its ``next_try``."""
        job.busy = False

    def done(self, job: Job) -> None:
        self._jobs.remove(job)

    def due_now(self) -> None:
        """Every waiting retry is due now (a flush, or exit: MLflow may be back since the last backoff)."""
        for job in self._jobs:
            job.next_try = 0.0

    def next_due(self) -> float | None:
        return min((j.next_try for j in self._jobs if not j.busy), default=None)

    def held(self) -> tuple[int, int]:
        """(spans, estimated bytes) that trace jobs hold; window jobs' requests are counted by their windows."""
        trace_jobs = [j for j in self._jobs if j.window is None]
        return sum(j.span_count for j in trace_jobs), sum(j.held_bytes for j in trace_jobs)

    def clear(self) -> None:
        self._jobs.clear()
