"""Write jobs: one planned write, resumable, retried with jittered backoff inside a deadline.

The ledger owns the jobs; a writer thread takes one, :func:`attempt` tries it and says what happened,
and the ledger settles it (spool entries retired, journal updated, counters).
"""

from __future__ import annotations

import enum
import random
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

from opentelemetry.sdk.trace import ReadableSpan

from otel_mlflow import attributes as A
from otel_mlflow.export.spool import SpanRef
from otel_mlflow.mapping.run_plan import RunPlan
from otel_mlflow.mapping.window import Window
from otel_mlflow.export.mlflow_server import PermanentWriteError, run_is_missing
from otel_mlflow.export.writer import MLflowWriter, WriteState

MAX_BACKOFF_SECONDS = 30.0


class Outcome(enum.Enum):
    WRITTEN = "written"
    RETRY = "retry"
    DROPPED = "dropped"


@dataclass(eq=False)
class Job:
    """One planned write and what it stands for; the ledger (:mod:`otel_mlflow.export.ledger`) owns it."""

    plan: RunPlan
    span_count: int
    key: str
    """Jobs with one key (a trace, a run, a window) run one at a time, in order, on one writer thread."""
    spans: Sequence[ReadableSpan] = ()
    """Sent to the server's /v1/traces when linking is on."""
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
    next_try: float = 0.0
    attempts: int = 0
    error: BaseException | None = None


def attempt(job: Job, writer: MLflowWriter, closing_deadline: float | None) -> Outcome:
    """Try ``job`` once. RETRY leaves it scheduled (``next_try``); WRITTEN sets ``job.run_id``."""
    try:
        job.run_id = writer.write(job.plan, job.state, job.spans)
    except PermanentWriteError as exc:
        job.error = exc
        if job.plan.run_id is not None and job.plan.end_run is None and run_is_missing(exc):
            retarget_to_new_run(job)
            return Outcome.RETRY
        return _given_up(job, writer)
    except Exception as exc:  # noqa: BLE001 - anything else is transient: retry with backoff
        job.error = exc
        now = time.monotonic()
        deadlines = [d for d in (job.deadline, closing_deadline) if d is not None]
        if deadlines and now >= min(deadlines):
            return _given_up(job, writer)
        job.attempts += 1
        job.next_try = now + backoff(job.attempts)
        return Outcome.RETRY
    job.error = None
    return Outcome.WRITTEN


def _given_up(job: Job, writer: MLflowWriter) -> Outcome:
    """The job is dropped; a run it created and was to end is ended FAILED with the reason, not left RUNNING."""
    state = job.state
    if state.run_id is not None and job.plan.ends_run and not state.ended:
        writer.close_failed(state.run_id, f"{type(job.error).__name__}: {job.error}")
    return Outcome.DROPPED


def retarget_to_new_run(job: Job) -> None:
    """A span named a run that does not exist: write it to a new run rather than lose it."""
    job.plan.tags[A.TAG_MISSING_RUN] = job.plan.run_id or ""
    job.plan.run_id = None
    job.plan.run_name = job.plan.run_name or "orphaned-spans"
    job.state = WriteState()


def backoff(attempt_number: int) -> float:
    """Jittered exponential backoff: about 0.5 s, 1 s, 2 s, ... capped at 30 s."""
    return min(MAX_BACKOFF_SECONDS, 0.5 * 2 ** (attempt_number - 1)) * random.uniform(0.5, 1.0)
