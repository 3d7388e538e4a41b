"""The two lanes: a run job's MLflow traces become a trace-lane job once the run exists, and what the spool keeps
until they are stored. Plain functions; the disk ones are called without the ledger's lock.

The run lane (runs, params, metrics, artifacts: what serving dashboards read) never waits for the trace lane
(MLflow's trace store: ~10 ms a trace on sqlite, more through a server). A request's spans stay in the spool
until its trace is stored or given up, so exactly-once and the exit drain cover both lanes::

    follow_up = settle_on_disk(disk, run_job, written)  # spool: the run part landed; its traces still held
    if follow_up is not None:
        queue.add(follow_up)                            # Lane.TRACES
    settle_on_disk(disk, follow_up, written)            # later: its spans retired, the trace's run journaled done
    jobs = restored_trace_jobs(disk.windows(), disk, known)  # after a crash: traces of runs already written
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

from otel_mlflow.export.pending.jobs import FollowUp, Job, Lane
from otel_mlflow.export.pending.memory import span_bytes
from otel_mlflow.export.pending.windows import held_spans
from otel_mlflow.export.spool.file import RunJournal, SpoolFile
from otel_mlflow.export.spool.guarded import GuardedSpool
from otel_mlflow.mapping.run_plan import RunPlan


@dataclass(frozen=True)
class Lag:
    """How far behind the lanes are (``MLflowSpanExporter.lag()``; the receiver's ``/health``; self-telemetry)."""

    runs_seconds: float
    """Age of the oldest run-lane job not yet done, or of the oldest batch of spans waiting on disk to be read back
    (spilled past the memory bound): how late window steps and runs reach MLflow (0: nothing waits)."""
    traces_waiting: int
    """Traces decided stored and not yet in MLflow."""
    traces_backlog_seconds: float
    """How long the trace store takes for those, at its measured pace."""
    traces_sampled_out: int
    """Traces the policy left out since start (their numbers are in the runs, their traces not)."""


def settle_on_disk(disk: GuardedSpool, job: Job, written: bool) -> Job | None:
    """What the spool keeps of a job that landed (``written``) or was given up; returns the trace-lane job that
    follows a run-lane job, if any."""
    window = job.window
    if job.lane is Lane.TRACES:
        settle_trace_job(disk, job)
        return None
    if window is None:
        return settle_run_job(disk, job, written)
    run_id = job.run_id or window.run_id
    follow_up = settle_window_traces(disk, job, run_id, written)
    closed = job.closes_window and job.upto == len(window.records)
    disk.settle_window(window.id, run_id, job.upto, closed, job.plan.points)
    return follow_up


def trace_lane_job(follow: FollowUp, trace_id: str, run_id: str, experiment_id: str | None = None) -> Job:
    """The job that stores ``follow``'s spans as MLflow traces linked to ``run_id`` (jobs of one run in order)."""
    plan = RunPlan(trace_id=trace_id, run_id=run_id, only_traces=True, experiment_id=experiment_id)
    job = Job(plan, 0, key=f"t-{run_id}", spans=follow.spans, lane=Lane.TRACES, follow=follow)
    job.held_bytes = sum(span_bytes(s) for s in follow.spans)
    return job


def settle_run_job(disk: GuardedSpool, job: Job, written: bool) -> Job | None:
    """A run-lane job that is not a window's landed (``written``) or was given up: the spool forgets its spans, or,
    when its traces are still to store, journals its trace ``linking``; returns the trace-lane job to queue."""
    follow, run_id = job.follow, job.run_id
    if follow is None or not written or run_id is None:
        run = (job.trace, job.run_id) if written and job.trace and job.run_id else None
        disk.call(lambda s: s.retire(job.refs, run=run))
        return None
    trace = follow.trace or job.plan.trace_id
    follow.trace = trace
    disk.call(lambda s: s.journal_run(trace, run_id, RunJournal.LINKING))
    return trace_lane_job(follow, job.plan.trace_id, run_id, job.state.experiment_id)


def settle_window_traces(disk: GuardedSpool, job: Job, run_id: str | None, written: bool) -> Job | None:
    """A window's run job landed (or was given up): the trace-lane job for its records' held spans, or, when there
    is no run to link them to, those spans released."""
    follow = job.follow
    if follow is None or follow.window is None:
        return None
    if written and run_id is not None:
        return trace_lane_job(follow, job.plan.trace_id, run_id, job.state.experiment_id)
    _release(disk, follow.window, follow.indexes)
    return None


def settle_trace_job(disk: GuardedSpool, job: Job) -> None:
    """A trace-lane job's traces are stored (or given up): the spans it carried leave the spool."""
    follow = job.follow
    if follow is None:  # feedback: its own spans
        disk.call(lambda s: s.retire(job.refs))
    elif follow.window is not None:
        _release(disk, follow.window, follow.indexes)
    else:
        done = (follow.trace, job.plan.run_id) if follow.trace and job.plan.run_id else None
        disk.call(lambda s: s.retire(follow.refs, run=done))


def restored_trace_jobs(rows: list[dict[str, Any]], disk: GuardedSpool, known: set[str]) -> list[Job]:
    """For the spool's windows (a dead process's, merged) not among ``known``: a trace-lane job for the records in
    their run already whose spans wait for their MLflow traces. Disk reads: call without the ledger's lock."""
    jobs = []
    for row in rows:
        if row["id"] in known:
            continue
        linking = row["state"] is RunJournal.LINKING
        synced = len(row["records"]) if linking else int(row["synced"] or 0)
        waiting = [(i, r) for i, r in zip(row["indexes"], row["records"], strict=True)][:synced]
        waiting = [(i, r) for i, r in waiting if r.get("span_refs")]
        if not waiting:
            continue
        spans = held_spans(disk, [(b, p) for _, r in waiting for b, p in r["span_refs"]])
        follow = FollowUp(list(spans.values()), window=row["id"], indexes=[i for i, _ in waiting])
        if row["run_id"] is None:  # no run to link to (never expected once records are synced)
            _release(disk, row["id"], follow.indexes)
            continue
        jobs.append(trace_lane_job(follow, str(waiting[-1][1].get("trace_id", "")), str(row["run_id"])))
    return jobs


def _release(disk: GuardedSpool, window: str, indexes: list[int]) -> None:
    """The spans a window's records held for their traces leave the spool (stored, given up, or no run)."""
    disk.call(functools.partial(SpoolFile.release_traces, window=window, indexes=indexes))
