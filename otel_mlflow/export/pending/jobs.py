"""Write jobs and their queue: one planned write each, what of it already landed, and whose turn it is.

A plain data structure: the ledger (:mod:`.ledger`) holds its lock around every call. Jobs of one key (a trace,
a run, a window) go one at a time and in order, always on the same writer thread (:func:`shard_of`), so a run's
creation comes before its writes and a window's steps stay in order. Each job is on one :class:`Lane`: the run
lane's threads never wait for MLflow's trace store, whose writes (a run's MLflow traces, feedback assessments)
are the trace lane's jobs, made when the run's job has landed (:attr:`Job.follow`)::

    queue = JobQueue()
    queue.add(job)
    job = queue.take(Lane.RUNS, shard=0, shards=4, now=time.monotonic())   # None: nothing due for this thread
    queue.done(job)                                              # or queue.release(job): retried at job.next_try

A job's :class:`WriteState` records what of its plan already landed in MLflow, so a retry resumes there.
"""

from __future__ import annotations

import enum
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field

from opentelemetry.sdk.trace import ReadableSpan

from otel_mlflow.export.spool.file import SpanRef
from otel_mlflow.mapping.run_plan import RunPlan
from otel_mlflow.mapping.window import Window


class Lane(enum.Enum):
    """Which writer threads take a job."""

    RUNS = "runs"
    """Runs: created, their params, metrics, tags and artifacts, ended (window steps, closing aggregates)."""
    TRACES = "traces"
    """MLflow traces linked to runs that exist, and feedback assessments on traces: MLflow's slowest writes."""


@dataclass
class FollowUp:
    """The MLflow traces a run job's spans become once the run exists: a trace-lane job then."""

    spans: Sequence[ReadableSpan]
    refs: list[SpanRef] = field(default_factory=list)
    """Where the spans sit in the spool (a per-trace run's): retired once they are stored."""
    window: str | None = None
    indexes: list[int] = field(default_factory=list)
    """The window's records whose held spans these are: released once stored."""
    trace: str | None = None
    """The trace whose run these link to (journaled ``linking`` until they are stored)."""


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
    cases_added: bool = False
    """A closing window's evaluation cases reached the dataset (``OTEL_MLFLOW_EVAL_DATASET``)."""
    trace_chunks_done: int = 0
    """Chunks of the plan's spans already stored as MLflow traces."""
    tags_at_creation: bool = False
    experiment_id: str | None = None
    """The run's experiment, once the writer knows it (the trace lane stores its traces there)."""
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
    """Stored as MLflow traces linked to the run (trace-lane jobs only)."""
    lane: Lane = Lane.RUNS
    follow: FollowUp | None = None
    """A run-lane job's spans to store as MLflow traces once it landed (None: no trace to store)."""
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
    queued_at: float = 0.0
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
        job.queued_at = time.monotonic()
        self._jobs.append(job)

    def oldest(self, lane: Lane, now: float) -> float:
        """Seconds the oldest job of ``lane`` has waited or been in flight (0 with none): how far behind it is."""
        return max((now - job.queued_at for job in self._jobs if job.lane is lane), default=0.0)

    def take(self, lane: Lane, shard: int, shards: int, now: float) -> Job | None:
        """The first due job of this lane and shard whose key has no earlier job waiting or running; traces go
        before feedback (which waits for traces)."""
        later: Job | None = None
        for job in self._heads(lane, shard, shards):
            if job.next_try > now:
                continue
            if job.plan.only_feedback:
                later = later or job
                continue
            later = job
            break
        if later is not None:
            later.busy, later.taken_at = True, now
        return later

    def release(self, job: Job) -> None:
        """The attempt failed; the job stays, due again at its ``next_try``."""
        job.busy = False

    def done(self, job: Job) -> None:
        self._jobs.remove(job)

    def active(self) -> int:
        """Jobs that flush and exit wait for: all but those waiting for something not in MLflow yet."""
        return sum(1 for job in self._jobs if not job.waiting)

    def wake_waiting(self, traces: set[int]) -> None:
        """These OTel traces were stored: the feedback waiting for one of them (or naming a trace by its MLflow id)
        is due now and active again."""
        for job in self._jobs:
            if job.waiting and any(n.otel_trace_id in traces or n.otel_trace_id is None for n in job.plan.feedback):
                job.waiting, job.next_try = False, 0.0

    def feedback_count(self) -> int:
        return sum(1 for job in self._jobs if job.plan.only_feedback)

    def due_now(self) -> None:
        """Every waiting retry is due now (a flush, or exit: MLflow may be back since the last backoff)."""
        for job in self._jobs:
            job.next_try = 0.0

    def next_due(self, lane: Lane, shard: int, shards: int) -> float | None:
        """When the next job that :meth:`take` could give this lane's shard is due: not a job of another shard, nor
        one behind an earlier job of its key (counting those made a writer whose wait ended at once spin)."""
        return min((job.next_try for job in self._heads(lane, shard, shards)), default=None)

    def _heads(self, lane: Lane, shard: int, shards: int) -> Iterator[Job]:
        """The jobs :meth:`take` may give this lane's shard, in order: the first of each key, not in flight."""
        seen: set[str] = set()
        for job in self._jobs:
            if job.key in seen:
                continue
            seen.add(job.key)
            if not job.busy and job.lane is lane and shard_of(job.key, shards) == shard:
                yield job

    def held(self) -> tuple[int, int]:
        """(spans, estimated bytes) that trace jobs hold; window jobs' requests are counted by their windows."""
        trace_jobs = [j for j in self._jobs if j.window is None]
        return sum(j.span_count for j in trace_jobs), sum(j.held_bytes for j in trace_jobs)

    def clear(self) -> None:
        self._jobs.clear()
