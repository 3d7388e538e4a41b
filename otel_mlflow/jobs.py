"""Write jobs: one planned write, resumable, retried with jittered backoff inside a deadline.

The exporter's writer thread owns the jobs; :func:`attempt` tries one and says what happened, and the
job's callbacks tell its owner (a trace buffer or a serving window) how it ended.
"""

from __future__ import annotations

import enum
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from opentelemetry.sdk.trace import ReadableSpan

from otel_mlflow import attributes as A
from otel_mlflow.mapping import RunPlan
from otel_mlflow.writer import MLflowWriter, PermanentWriteError, WriteState, run_is_missing

MAX_BACKOFF_SECONDS = 30.0


class Outcome(enum.Enum):
    WRITTEN = "written"
    RETRY = "retry"
    DROPPED = "dropped"


@dataclass(eq=False)
class Job:
    plan: RunPlan
    span_count: int
    deadline: float
    spans: Sequence[ReadableSpan] = ()
    """Sent to the server's /v1/traces when linking is on."""
    on_written: Callable[[str], None] = lambda run_id: None
    on_dropped: Callable[[], None] = lambda: None
    held_bytes: int = 0
    state: WriteState = field(default_factory=WriteState)
    next_try: float = 0.0
    attempts: int = 0
    error: BaseException | None = None


def attempt(job: Job, writer: MLflowWriter, closing_deadline: float | None) -> Outcome:
    """Try ``job`` once. RETRY leaves it scheduled (``next_try``); the others finish it."""
    try:
        run_id = writer.write(job.plan, job.state, job.spans)
    except PermanentWriteError as exc:
        job.error = exc
        if job.plan.run_id is not None and job.plan.end_run is None and run_is_missing(exc):
            retarget_to_new_run(job)
            return Outcome.RETRY
        job.on_dropped()
        return Outcome.DROPPED
    except Exception as exc:  # noqa: BLE001 - anything else is transient: retry with backoff
        job.error = exc
        now = time.monotonic()
        deadline = min(job.deadline, closing_deadline) if closing_deadline else job.deadline
        if now >= deadline:
            job.on_dropped()
            return Outcome.DROPPED
        job.attempts += 1
        job.next_try = now + backoff(job.attempts)
        return Outcome.RETRY
    job.error = None
    job.on_written(run_id)
    return Outcome.WRITTEN


def retarget_to_new_run(job: Job) -> None:
    """A span named a run that does not exist: write it to a new run rather than lose it."""
    job.plan.tags[A.TAG_MISSING_RUN] = job.plan.run_id or ""
    job.plan.run_id = None
    job.plan.run_name = job.plan.run_name or "orphaned-spans"
    job.state = WriteState()


def backoff(attempt_number: int) -> float:
    """Jittered exponential backoff: about 0.5 s, 1 s, 2 s, ... capped at 30 s."""
    return min(MAX_BACKOFF_SECONDS, 0.5 * 2 ** (attempt_number - 1)) * random.uniform(0.5, 1.0)
