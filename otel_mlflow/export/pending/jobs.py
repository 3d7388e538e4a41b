"""Write jobs and their queue: one planned write each, what of it already landed, and whose turn it is.

A plain data structure: the ledger (:mod:`.ledger`) holds its lock around every call. Jobs of one key (a trace,
a run, a window) go one at a time and in order, always on the same writer thread (:func:`shard_of`), so a run's
creation comes before its writes and a window's steps stay in order::

    queue = JobQueue()
    queue.add(job)
    job = queue.take(shard=0, shards=4, now=time.monotonic())   # None: nothing due for this thread
    queue.done(job)                                              # or queue.release(job): retried at job.next_try

A job's :class:`WriteState` records what of its plan already landed in MLflow, so a retry resumes there.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from opentelemetry.sdk.trace import ReadableSpan

from otel_mlflow.export.spool.file import SpanRef
from otel_mlflow.mapping.run_plan import RunPlan
from otel_mlflow.mapping.window import Window


class Outcome(enum.Enum):
    """How one attempt at a job ended (:func:`otel_mlflow.export.mlflow.attempt.attempt`)."""

    WRITTEN = "written"
    RETRY = "retry"
    NOT_YET = "not yet"
    """What the write needs is not in MLflow yet (feedback whose trace is on its way): tried again later, neither a
    failure of MLflow nor work that flush or exit waits for."""
    DROPPED = "dropped"


@dataclass
class WriteState:
    """What of a job's plan already landed in MLflow: a retry never creates a second run or logs a batch twice."""

    run_id: str | None = None
    batches_done: set[int] = field(default_factory=set)
    """Indexes of the plan's ``log_batch`` calls that landed (they may land out of order: several in flight)."""
    artifacts_done: bool = False
    ended: bool = False
    linked: bool = False
    trace_chunks_done: int = 0
    """Chunks of the plan's spans already stored as MLflow traces."""
    tags_at_creation: bool = False
    in_doubt: bool = False
    """A crashed process may have created this run: look it up by ``plan.identity`` before creating it."""
    on_progress: Callable[[], None] | None = None
    """Called each time part of the write lands (a batch, a chunk of traces): a long write is progress too."""
    on_create: Callable[[str | None], None] | None = None
    """Called with None just before ``create_run`` and with the run id just after (the spool's journal)."""

    def progressed(self) -> None:
        if self.on_progress is not None:
            self.on_progress()

    def chunks_stored(self, done: int) -> None:
        self.trace_chunks_done = done
        self.progressed()


@dataclass(eq=False)
class Job:
    """One planned write and what it stands for."""

    plan: RunPlan
    span_count: int
    key: str
    """Jobs with one key (a trace, a run, a window) run one at a time, in order, on one writer thread."""
    spans: Sequence[ReadableSpan] = ()
    """Stored as MLflow traces linked to the run when linking is on."""
    refs: list[SpanRef] = field(default_factory=list)
    """Where its spans sit in the spool: retired once the write is done."""
    trace: str | None = None
    """The trace whose run this job creates (journaled before and after ``create_run``)."""
    window: Window | None = None
    upto: int = 0
    """For a window's job: the window's records it covers."""
    held_bytes: int = 0
    deadline: float | None = None
    """Give up (drop, counted) past this monotonic time; None: retry until written (the spool keeps it)."""
    state: WriteState = field(default_factory=WriteState)
    run_id: str | None = None
    busy: bool = False
    taken_at: float = 0.0
    """When a writer last took it (how long storing its traces took is measured from there)."""
    next_try: float = 0.0
    attempts: int = 0
    error: BaseException | None = None
    waiting: bool = False
    """Its last attempt was NOT_YET: until something is written, flush and exit do not wait for it."""

    @property
    def closes_window(self) -> bool:
        """This is its window's closing write (aggregates, predictions table, end of the run)."""
        return self.window is not None and bool(self.plan.end_run)


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
            job.busy, job.taken_at = True, now
            return job
        return None

    def release(self, job: Job) -> None:
        """The attempt failed; the job stays, due again at its ``next_try``."""
        job.busy = False

    def done(self, job: Job) -> None:
        self._jobs.remove(job)

    def active(self) -> int:
        """Jobs that flush and exit wait for: all but those waiting for something not in MLflow yet."""
        return sum(1 for job in self._jobs if not job.waiting)

    def wake_waiting(self) -> None:
        """Something was written (a trace, maybe): the waiting jobs are due now and active again."""
        for job in self._jobs:
            if job.waiting:
                job.waiting, job.next_try = False, 0.0

    def feedback_count(self) -> int:
        return sum(1 for job in self._jobs if job.plan.only_feedback)

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
