"""One attempt at a write job: the writer's call, and MLflow's answer turned into an :class:`Outcome`.

Usage (a writer thread)::

    outcome = attempt(job, writer, closing_deadline)   # WRITTEN (job.run_id set), RETRY (job.next_try set), DROPPED
    ledger.finish(job, outcome)

A refusal no retry can fix is DROPPED (a run the job created and was to end is ended FAILED, not left RUNNING);
a span naming a run that does not exist is written to a new run instead; anything else is retried with
jittered backoff until the job's deadline (or the exit's, without a spool).
"""

from __future__ import annotations

import random
import time

from otel_mlflow import attributes as A
from otel_mlflow.export.mlflow.server import PermanentWriteError, run_is_missing
from otel_mlflow.export.mlflow.traces import TraceNotStored
from otel_mlflow.export.mlflow.writer import MLflowWriter
from otel_mlflow.export.pending.jobs import Job, Outcome, WriteState

MAX_BACKOFF_SECONDS = 30.0


def attempt(job: Job, writer: MLflowWriter, closing_deadline: float | None) -> Outcome:
    """Try ``job`` once. RETRY leaves it scheduled (``next_try``); WRITTEN sets ``job.run_id``."""
    try:
        job.run_id = writer.write(job.plan, job.state, job.spans)
    except TraceNotStored as exc:  # feedback whose trace is not in MLflow (yet): waits, until its deadline
        job.error = exc
        now = time.monotonic()
        if job.deadline is not None and now >= job.deadline:
            return _given_up(job, writer)
        job.attempts += 1
        job.next_try, job.waiting = now + backoff(job.attempts), True
        return Outcome.NOT_YET
    except PermanentWriteError as exc:
        job.error = exc
        if job.plan.run_id is not None and job.plan.end_run is None and run_is_missing(exc):
            retarget_to_new_run(job)
            return Outcome.RETRY
        return _given_up(job, writer)
    except Exception as exc:  # noqa: BLE001 - anything else is transient: retried with backoff
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
