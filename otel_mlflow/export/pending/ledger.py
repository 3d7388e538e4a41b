"""The ledger: the one owner of everything accepted and not yet in MLflow, and the only holder of its lock.

It coordinates the owners of each piece of pending state (each a plain structure it calls under its lock):
the trace buffer and trace marks (:mod:`.traces`), the serving windows (:mod:`.windows`), the write jobs
(:mod:`.jobs`), the spilled backlog (:mod:`.backlog`) and the memory bound (:mod:`.memory`); and it reaches the
durable copy through the guarded spool only. Writer threads ask it for work and tell it what happened::

    ledger = Ledger(config, options, telemetry, owned_spool)
    ledger.accept(spans, now)                  # export(): spooled (one transaction), then held or spilled
    if ledger.planning_due(now, last_plan):
        ledger.plan(now)                       # ready traces -> jobs or window records; windows -> jobs
    job = ledger.take(lane, shard, shards, now)   # or ledger.wait_for_work(lane, shard, shards, now) if none
    ledger.finish(job, attempt(job, writer, None))   # retire from the spool, journal, count

Its :class:`Phase`: RUNNING -> DRAINING (:meth:`begin_drain`) -> STOPPED (:meth:`stop`). The states of a trace,
a window and a run, and the one method that moves each: DESIGN.md, "The export engine's states".
"""

from __future__ import annotations

import enum
import functools
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager

from opentelemetry.sdk.trace import ReadableSpan

from otel_mlflow.config import Config
from otel_mlflow.export import LOGGER_NAME
from otel_mlflow.export.pending.backlog import Backlog
from otel_mlflow.export.pending.jobs import Job, JobQueue, Lane, Outcome
from otel_mlflow.export.pending.lanes import Lag, restored_trace_jobs, settle_on_disk
from otel_mlflow.export.pending.memory import Held, MemoryBound, span_bytes
from otel_mlflow.export.pending.routing import FEEDBACK_FULL, MAX_FEEDBACK_JOBS, feedback_job, trace_job, windowed
from otel_mlflow.export.pending.trace_load import TraceLoad
from otel_mlflow.export.pending.traces import FiledIn, SpanGroup, TraceBuffer, WrittenTo, fold_events
from otel_mlflow.export.pending.windows import Windows, rebuild
from otel_mlflow.export.spool.file import SpoolFile, WindowRecord
from otel_mlflow.export.spool.folder import OwnedSpool
from otel_mlflow.export.spool.guarded import REFUSED, GuardedSpool
from otel_mlflow.export.stats import ExportStats, SelfTelemetry
from otel_mlflow.mapping.feedback import is_feedback_group
from otel_mlflow.mapping.request_record import request_record
from otel_mlflow.mapping.run_plan import MappingOptions
from otel_mlflow.mapping.trace_policy import TracePolicy
from otel_mlflow.ratelimit import RateLimitedLog
from otel_mlflow.scrub import get_logger

_logger = get_logger(__name__)
LATE_CHILD_GRACE_SECONDS = 5.0
"""A trace is written this long after its root came (the SDK exports every 5 s): children that end after it
(streams, background work) join its one record. ``force_flush`` and draining do not wait for it."""
TAKE_OVER_EVERY_SECONDS, PRUNE_JOURNAL_EVERY_SECONDS, DRAINING_POLL_SECONDS = 5.0, 60.0, 0.2
"""How often a live process looks for spool files of dead ones (forks, crashed replicas); how often the runs journal
forgets written traces beyond the last 10,000; how often draining looks again."""
RETRY_WARNING = "otel-mlflow write failed, retried (attempt %d): %s"
GIVE_UP_WARNING = "otel-mlflow dropped %d span(s): MLflow refused or failed until OTEL_MLFLOW_RETRY_TIMEOUT: %s"


class Phase(enum.Enum):
    RUNNING = "running"
    """Traces are written after their grace period, windows when their time is up."""
    DRAINING = "draining"
    """Everything is written now: traces still waiting for their root, open windows, retries due at once."""
    STOPPED = "stopped"
    """The writer threads leave their loop."""


class Ledger:
    def __init__(
        self, config: Config, options: MappingOptions, telemetry: SelfTelemetry, owned: OwnedSpool | None
    ) -> None:
        self.config, self.options = config, options
        self.warnings = RateLimitedLog(get_logger(LOGGER_NAME))
        self.disk = GuardedSpool(owned, on_failure=self._spool_lost)
        self._cond, self._stats = threading.Condition(), ExportStats(telemetry)
        self._memory, self._traces = MemoryBound(config), TraceBuffer(config.trace_timeout)
        self._windows = Windows(config.window_seconds, config.window_max_requests)
        self._jobs, self._backlog = JobQueue(), Backlog()
        self._load = TraceLoad(TracePolicy.parse(config.trace_policy), config.trace_backlog_seconds)
        self._phase, self._plan_lock = Phase.RUNNING, threading.Lock()
        self._dirty, self._planning, self._plans = True, False, 0
        self._flushing = 0  # force_flush calls waiting: planning takes finished traces without their grace period
        self._next_take_over, self._next_prune = 0.0, time.monotonic() + PRUNE_JOURNAL_EVERY_SECONDS
        self._took_over_draining, self.handing_off = False, False  # handing off: OTEL_MLFLOW_WRITER=process

    @property
    def stopped(self) -> bool:
        return self._phase is Phase.STOPPED

    # --- intake ---------------------------------------------------------------------------------
    def accept(self, spans: Sequence[ReadableSpan], now: float, durable: bool = False) -> bool:
        """Take ``spans`` whole or refuse them whole (False, counted), on disk only if ``durable``; never waits."""
        sizes = [span_bytes(s) for s in spans]
        batch, positions = self.disk.append_batch(spans, self.config.spool_max_bytes, self.warnings)
        with self._cond:
            self._stats.add("spans_received", len(spans))
            fits = self._memory.fits(self._held(), len(spans), sum(sizes))
            if batch == REFUSED or (batch is None and (durable or not fits)):
                self._stats.add("spans_dropped_queue_full", len(spans))
                return False
            if batch is not None and self.handing_off:
                return True
            if batch is not None and (self._backlog or not fits):
                self._backlog.spill(batch)  # on disk only; read back when memory frees
                self._stats.add("spans_spilled", len(spans))
            else:
                for index, (span, size) in enumerate(zip(spans, sizes, strict=True)):
                    ref = (batch, positions[index]) if batch is not None else None
                    self._traces.add(span, now, size, ref)
            self._dirty = True
            self._cond.notify_all()
        return True

    # --- planning: what is ready becomes jobs ---------------------------------------------------
    def plan(self, now: float) -> None:
        """Turn what is ready into jobs: finished traces, window updates, spilled spans read back."""
        if not self._plan_lock.acquire(blocking=False):
            return
        try:
            with self._cond:
                self._planning, draining = True, self._phase is not Phase.RUNNING
            if now >= self._next_take_over or (draining and not self._took_over_draining):
                self._took_over_draining = draining
                self._take_over(now)
            self._read_back(now)
            with self._cond:
                self._dirty = False
                grace = 0.0 if self._flushing or draining else LATE_CHILD_GRACE_SECONDS
                hold = bool(self._backlog) and self._memory.may_read_back_later(self._held())  # roots may be on disk
                groups = self._traces.pop_ready(now, grace, draining, hold_rootless=hold)
            records: list[WindowRecord] = []
            for group in groups:
                self._route(group, now, records)
            if records:
                self.disk.call(lambda s: s.add_records(records))  # one transaction for the pass
            with self._cond:
                jobs = self._windows.due(now, draining, self.options, self._load.per_second(self.config.steps, now))
            for job in jobs:
                self._add_job(job, now)  # wakes the writers
        finally:
            with self._cond:  # waiters poll the pass count: waking every writer here made them plan in a loop
                self._planning = False
                self._plans += 1
            self._plan_lock.release()

    def _route(self, group: SpanGroup, now: float, records: list[WindowRecord]) -> None:
        try:
            counts = fold_events(group, self.config)  # GenAI log records into their spans; message refs read
            with self._cond:
                self._stats.add_all(counts)
            if not group.spans:  # only log records whose spans never came (counted)
                return self._drop(group, "log_events_orphaned", None)
            if isinstance(group.dest, FiledIn):  # children of a filed request, ended after its grace period
                with self._cond:
                    joined = self._windows.join_late(group, records)
                    self._stats.add("spans_joined_late", len(group.spans) * joined)
                return None if joined else self._drop(group, "spans_dropped_late", "ended after their window closed")
            if windowed(group, self.config.run_mode):
                record = request_record(group.spans, self.options.capture_content, self.options.prices)
                with self._cond:  # its MLflow trace stored, or counted out
                    mark, entry = self._windows.file(record, group, now, hold_spans=self._load.keep(record, now))
                    self._traces.mark(group.trace_id, mark)  # late spans join its record
                return records.append(entry)
            if is_feedback_group(group.spans):  # given after its request: joins the request's record, if it can
                with self._cond:
                    known = self._windows.join_feedback(group, self._traces, records, now)  # names one of ours
                    self._traces.forget(group.trace_id)  # a feedback's own trace has no run
                    full = self._jobs.feedback_count() >= MAX_FEEDBACK_JOBS
                if full and not known:  # feedback on a request of ours is never pushed out by unknown ones
                    return self._drop(group, "spans_dropped_feedback", FEEDBACK_FULL)
                job = feedback_job(group, self.options, now, self.config.window_seconds, time.time())
            else:
                trace = f"{group.trace_id:032x}"
                journal = self.disk.call(lambda s: s.run_of(trace)) if group.replayed and not group.dest else None
                job = trace_job(group, self.options, journal)
                with self._cond:
                    self._load.keep_for_run(job, now)
                if group.dest is None and job.trace is None and job.plan.run_id:  # its run was written before a crash
                    with self._cond:
                        self._traces.mark(group.trace_id, WrittenTo(job.plan.run_id))
        except Exception:  # one bad group must not stop the others
            _logger.exception("otel-mlflow could not map %d span(s); they are dropped", len(group.spans))
            self._drop(group, "spans_dropped_mapping_failed", None)
            return
        self._add_job(job, now)

    def _drop(self, group: SpanGroup, stat: str, why: str | None) -> None:
        self.disk.call(lambda s: s.retire(group.refs))
        with self._cond:
            self._stats.add(stat, len(group.spans))
            self._traces.forget(group.trace_id)
        if why:
            self.warnings.warn(stat, "otel-mlflow dropped %d span(s) that %s", len(group.spans), why)

    def _add_job(self, job: Job, now: float) -> None:
        if job.trace is not None:  # the journal around create_run
            job.state.on_create = self.disk.run_journal(job.trace)
        elif job.window is not None:
            job.state.on_create = self.disk.window_journal(job.window.id)
        if self.disk.spool is None and job.deadline is None:
            job.deadline = now + self.config.retry_timeout
        with self._cond:
            self._stats.add("metrics_dropped_non_finite", job.plan.dropped_metrics)
            self._jobs.add(job)
            self._cond.notify_all()

    # --- what comes back from disk: dead processes' files, spilled batches ----------------------
    def _take_over(self, now: float) -> None:
        """Merge the spool files of dead processes into ours; queue their batches, restore their windows closed."""
        self._next_take_over = now + TAKE_OVER_EVERY_SECONDS
        if now >= self._next_prune:  # the journal remembers the last 10,000 written traces
            self._next_prune = now + PRUNE_JOURNAL_EVERY_SECONDS
            self.disk.prune()
        files, batches, windows = self.disk.take_over_dead()
        with self._cond:
            self._backlog.adopt(batches)
            self._stats.add("spool_files_taken_over", files)
            known = self._windows.ids()
        if not windows:  # hand-offs (:mod:`..handoff`) bring batches only: the spool's windows are not read again
            return
        rows = self.disk.windows()
        restored, tracing = rebuild(rows, self.disk, known, now), restored_trace_jobs(rows, self.disk, known)
        with self._cond:
            for window in restored:
                self._windows.restore(window)
            for job in tracing:
                self._jobs.add(job)

    def look_for_files(self) -> None:  # take over files of processes gone (or handed off) at the next pass
        with self._cond:
            self._dirty, self._next_take_over = True, 0.0
            self._cond.notify_all()

    def _read_back(self, now: float) -> None:
        """Spilled batches back into the trace buffer while memory has room."""
        while self.disk.spool is not None:
            with self._cond:  # the room is added up from what memory holds: only when a batch waits
                batch = self._backlog.next() if self._backlog and self._room_to_read_back() else None
            if batch is None:
                return
            if (loaded := self.disk.read_batch(batch)) is None:
                return
            spans, lost = loaded
            with self._cond:
                for span, ref in spans:
                    self._traces.add(span, now, span_bytes(span), ref, replayed=True)
                self._stats.add("spans_dropped_mapping_failed", len(lost))
            if lost:
                self.disk.call(functools.partial(SpoolFile.retire, refs=lost))

    def _spool_lost(self) -> int:  # the guard dropped the spool: spilled batches stay on disk for the next start
        with self._cond:
            self._stats.add("spool_errors", 1)
            return self._backlog.forget()

    # --- writer threads -------------------------------------------------------------------------
    def take(self, lane: Lane, shard: int, shards: int, now: float) -> Job | None:  # jobs of one key go in order
        with self._cond:
            return self._jobs.take(lane, shard, shards, now)

    def finish(self, job: Job, outcome: Outcome) -> None:
        """Settle one attempt: durable first (spool), then memory and counters."""
        if outcome in (Outcome.RETRY, Outcome.NOT_YET):
            with self._cond:
                self._jobs.release(job)
                self._stats.add("writes_retried", outcome is Outcome.RETRY)
            if outcome is Outcome.RETRY:
                self.warnings.warn("retry", RETRY_WARNING, job.attempts, job.error)
            return
        written = outcome is Outcome.WRITTEN
        if not written:
            self.warnings.warn("give_up", GIVE_UP_WARNING, job.span_count or len(job.spans), job.error)
        window, follow_up = job.window, settle_on_disk(self.disk, job, written)
        with self._cond:
            self._jobs.done(job)
            if job.spans:  # its traces are stored (or given up); feedback may find them now
                self._load.ended(job, time.monotonic())
                self._jobs.wake_waiting({s.context.trace_id for s in job.spans if s.context})
                self._stats.add("traces_written" if written else "traces_dropped_write_failed", 1)
            if follow_up is not None:
                self._jobs.add(follow_up)
            self._stats.add("spans_written" if written else "spans_dropped_write_failed", job.span_count)
            if written and job.plan.run_id is None and not job.state.in_doubt and not job.plan.only_feedback:
                self._stats.add("runs_created", 1)
            if window is not None:
                self._windows.settle(job, written)  # a window not FINISHED gets a later job (aggregates, end)
            elif job.trace is not None:
                self._traces.settle(int(job.trace, 16), job.run_id if written else None)
            self._cond.notify_all()

    def planning_due(self, now: float, last_plan: float) -> bool:
        with self._cond:
            due = now - last_plan >= self.config.flush_interval or self._phase is not Phase.RUNNING
            return due or self._needs_planning()

    def wait_for_work(self, lane: Lane, shard: int, shards: int, now: float) -> None:
        """Sleep until a job of this lane's shard may be due, planning is due (the run lane plans: a trace's grace
        ending soon wakes it; one that ended waits for the next pass), or anything changes (a flush interval at most).
        """
        with self._cond:
            if self.stopped or (lane is Lane.RUNS and self._needs_planning()):
                return
            grace_end = self._traces.next_grace_end(LATE_CHILD_GRACE_SECONDS) if lane is Lane.RUNS else None
            dues = (self._jobs.next_due(lane, shard, shards), grace_end if grace_end and grace_end > now else None)
            timeout = min([self.config.flush_interval, *(max(0.0, due - now) for due in dues if due is not None)])
            self._cond.wait(min(timeout, DRAINING_POLL_SECONDS) if self._phase is Phase.DRAINING else timeout)

    # --- flush, drain, stop ---------------------------------------------------------------------
    @contextmanager
    def flushing(self) -> Iterator[int]:
        """While ``force_flush`` (or exit) waits: every waiting retry is due now, no grace period applies, and the
        files of processes gone since (forked children) are taken over. Yields the planning passes so far."""
        with self._cond:
            self._flushing += 1
            self._jobs.due_now()
            self._dirty, self._next_take_over = True, 0.0
            self._cond.notify_all()
            since = self._plans
        try:
            yield since
        finally:
            with self._cond:
                self._flushing -= 1

    def wait_settled(self, deadline: float, alive: Callable[[], bool], since: int = -1) -> bool:
        """Wait until a planning pass after ``since`` left nothing ready unwritten (traces still waiting for their root
        do not count); False when ``deadline`` passes first or no writer is ``alive``."""
        with self._cond:
            while self._plans <= since or not self._settled(time.monotonic()):
                if (remaining := deadline - time.monotonic()) <= 0 or not alive():
                    return False
                self._cond.wait(min(remaining, 0.1))
        return True

    def begin_drain(self) -> int:  # RUNNING -> DRAINING (all is written now); the passes so far, for wait_drained
        with self._cond:
            self._phase = Phase.DRAINING if self._phase is Phase.RUNNING else self._phase  # never back from STOPPED
            self._cond.notify_all()
            return self._plans

    def wait_drained(self, since: int, timeout: float) -> tuple[bool, int]:
        """Wait up to ``timeout`` for a planning pass after ``since`` to leave nothing pending; returns (drained,
        spans and window requests not yet in MLflow)."""
        with self._cond:
            drained = self._cond.wait_for(lambda: self._plans > since and self._empty(), timeout)
            return drained, 0 if drained else self._left()

    def stop(self) -> None:  # -> STOPPED: writer threads leave their loop
        with self._cond:
            self._phase = Phase.STOPPED
            self._cond.notify_all()

    def drop_all(self) -> int:
        """Without a spool, at exit: forget what is left (counted as write failures); returns how many spans."""
        with self._cond:
            lost = self._held()[0]
            for part in (self._jobs, self._traces, self._windows):
                part.clear()
            self._stats.add("spans_dropped_write_failed", lost)
            return lost

    def stats(self) -> ExportStats:  # a snapshot of the counters
        with self._cond:
            return self._stats.copy()

    def lag(self, now: float) -> Lag:  # how far behind each lane is now
        with self._cond:
            return Lag(max(self._jobs.oldest(Lane.RUNS, now), self._backlog.oldest(now)), *self._load.backlog())

    def memory_held(self) -> Held:  # (spans, estimated bytes) held in memory now; spilled ones are on disk
        with self._cond:
            return self._held()

    # --- state (lock held) ------------------------------------------------------------------------
    def _needs_planning(self) -> bool:
        """New spans came, or spilled ones can be read back; never while a thread plans (others polled: they spun)."""
        return not self._planning and (self._dirty or (bool(self._backlog) and self._room_to_read_back()))

    def _room_to_read_back(self) -> bool:
        stuck = not self._jobs.active() and not self._traces.has_ready(time.monotonic(), hold_rootless=True)
        return self._memory.room_to_read_back(self._held(), stuck)

    def _settled(self, now: float) -> bool:
        busy = self._planning or self._jobs.active() or self._backlog or self._windows.busy()
        return not (busy or self._traces.has_ready(now))

    def _empty(self) -> bool:
        return not (self._planning or self._jobs.active() or self._backlog or len(self._traces) or len(self._windows))

    def _left(self) -> int:
        spool = self.disk.spool
        return self._windows.unwritten() + (spool.span_count if spool is not None else self._held()[0])

    def _held(self) -> Held:
        jobs_spans, jobs_bytes = self._jobs.held()
        window_spans, window_bytes = self._windows.held()
        return len(self._traces) + jobs_spans + window_spans, self._traces.bytes + jobs_bytes + window_bytes
