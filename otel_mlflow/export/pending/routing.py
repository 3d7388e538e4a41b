"""Which run a group of spans goes to: plain functions from a group (and its journal entry) to a job.

``OTEL_MLFLOW_RUN_MODE``: ``trace`` (a run per trace), ``window`` (a run per service and configuration
per window), ``auto`` (window for traces whose root is a SERVER span, a run per trace otherwise).
Spans that name a run (``otel_mlflow.run_id``), and late spans of a written trace, go to that run in
every mode. Usage::

    if windowed(group, config.run_mode):
        record = request_record(group.spans)          # joins a serving window
    else:
        job = trace_job(group, options, journal=spool.run_of(trace_hex))
"""

from __future__ import annotations

from otel_mlflow import attributes as A
from otel_mlflow.export.pending.jobs import FollowUp, Job, Lane, WriteState
from otel_mlflow.export.pending.lanes import trace_lane_job
from otel_mlflow.export.pending.traces import SpanGroup
from otel_mlflow.export.spool.file import RunJournal
from otel_mlflow.mapping.feedback import feedback_notes, is_feedback_group
from otel_mlflow.mapping.request_record import RequestRecord
from otel_mlflow.mapping.run_plan import MappingOptions, RunPlan
from otel_mlflow.mapping.span_facts import is_local_root
from otel_mlflow.mapping.trace_run import plan_run


def windowed(group: SpanGroup, run_mode: str) -> bool:
    """Does this complete, run-less group belong to a serving window? (Feedback given later never does.)"""
    if group.dest is not None or not group.complete or run_mode == "trace" or is_feedback_group(group.spans):
        return False
    if run_mode == "window":
        return True
    return any(s.kind.name == "SERVER" and is_local_root(s) for s in group.spans)


def trace_job(group: SpanGroup, options: MappingOptions, journal: tuple[str | None, RunJournal] | None = None) -> Job:
    """The job that writes ``group``: a new run for its trace, or into the run it names.

    ``journal`` is the spool's (run id, state) for the trace, for spans replayed from the spool: a run
    already done takes them as late spans, a created one is resumed, one being created is in doubt.
    """
    trace = f"{group.trace_id:032x}"
    if journal is not None and journal[1] is RunJournal.LINKING and journal[0]:  # only its traces were left
        return trace_lane_job(FollowUp(group.spans, list(group.refs), trace=trace), trace, journal[0])
    run_id, state = group.run_id, WriteState()
    if run_id is None and journal is not None:
        journaled_run, status = journal
        if status is RunJournal.DONE and journaled_run:
            run_id = journaled_run
        elif status is RunJournal.CREATED and journaled_run:
            state.run_id = journaled_run
        elif status is RunJournal.CREATING:
            state.in_doubt = True
    prefix = f"traces/{trace}/" if run_id else ""
    plan = plan_run(group.spans, options, run_id=run_id, artifact_prefix=prefix)
    if not group.complete:
        plan.tags[A.TAG_INCOMPLETE] = "true"
    creates = plan.run_id is None
    if creates:
        plan.identity = (A.TAG_WRITE_KEY, f"t-{trace}")
    job = Job(plan, len(group.spans), key=run_id or trace, refs=list(group.refs), trace=trace if creates else None)
    job.state, job.follow = state, FollowUp(group.spans, list(group.refs), trace=trace)
    job.held_bytes = group.bytes + sum(len(t) for t in plan.artifacts.values())
    return job


FEEDBACK_WAIT_SECONDS = 300.0
"""How long feedback waits for its request's trace to be in MLflow, beyond a window's length, counted from when
the feedback was given (a trace id that never comes, or MLflow down that long: the feedback is dropped, counted and
warned about). A replay after a restart does not start the wait again."""
MAX_FEEDBACK_JOBS = 1_000
"""Feedback waiting for its trace at most; past it, more feedback is dropped and counted (anyone who can post to
an app's feedback route can send feedback for traces that never come)."""
FEEDBACK_FULL = f"are feedback for traces not in MLflow, past the {MAX_FEEDBACK_JOBS:,} waiting for theirs"


def feedback_job(group: SpanGroup, options: MappingOptions, now: float, window_seconds: float, wall: float) -> Job:
    """The job that logs ``group``'s later feedback as MLflow assessments: no run of its own. ``now`` is the
    monotonic clock, ``wall`` the time of day: the wait is counted from the feedback's own time."""
    given_at = max((span.end_time or span.start_time or 0 for span in group.spans), default=0) / 1e9
    trace = f"{group.trace_id:032x}"
    plan = RunPlan(trace_id=trace, feedback=feedback_notes(group.spans, options.scrubber), only_feedback=True)
    return Job(
        plan,
        len(group.spans),
        key=f"f-{trace}",
        refs=list(group.refs),
        lane=Lane.TRACES,
        deadline=now + max(0.0, given_at + window_seconds + FEEDBACK_WAIT_SECONDS - wall),
    )


def decision_record(job: Job) -> RequestRecord:
    """What the trace policy looks at for a per-trace run: its trace, outcome, duration and configuration."""
    plan = job.plan
    start, end = (plan.start_ms or 0) * 1_000_000, (plan.end_ms or 0) * 1_000_000
    configuration = {"model": plan.params.get("model", "")}
    return RequestRecord(plan.trace_id, plan.run_name or "", start, end, bool(plan.failed), configuration)
